"""Figures that are what they say (issue 13): card texts checked against texts written by hand.

The expected strings below are written out, not produced by the code under test: a change
to the rendering (0 decimals for hours, a change rounded to its own digits, scientific
notation) fails here.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from planfactory.demo import demo_economy
from planfactory.pipeline import cards_from_doc, make_inputs, produce
from planfactory.variants import parameters_with_defaults
from planfactory import summaries
from planfactory.summaries import FIELDS, KEYS, SPOKEN, CardArrays, attach_ranges, card_dict, card_text, fmt_value

NO_CHANGE = "no change"  # planfactory.summaries.NO_CHANGE, the wording decided (docs/decisions.md)


@pytest.mark.parametrize("x, kind, text", [
    (1e12, "qty", "1.00 trillion"), (6e7, "qty", "60.0 million"), (3.2e9, "qty", "3.20 billion"),
    (1e15, "qty", "1,000 trillion"), (999_999, "qty", "1.00 million"), (999.5, "qty", "1,000"),
    (98_765, "qty", "98,800"), (123_450, "qty", "123,000"), (100, "qty", "100"), (0.0012345, "qty", "0.00123"),
    (5e-7, "qty", "0.000000500"), (0.0, "qty", "0"), (-2_345_678, "qty", "\u22122.35 million"),
    # halves away from zero, on the number as written (decimal), not on its binary neighbour
    (1.15, "dec", "1.2"), (29.65, "dec", "29.7"), (37.25, "dec", "37.3"), (-2.25, "dec", "\u22122.3"),
    (0.05, "dec", "0.1"), (-0.04, "dec", "0.0"), (2.675, "pct", "2.7%"), (12.25, "pct", "12.3%"),
    (2_500.0, "qty", "2,500"), (1_234.5, "dec", "1,234.5"), (float("nan"), "qty", "not known")])
def test_values_are_rounded_by_hand(x, kind, text):
    assert fmt_value(x, kind) == text
    assert "e+" not in text and "e-" not in text


@pytest.mark.parametrize("value, reference, kind, text", [
    # the three: a variant identical to the status quo shows no change
    (2_280_000_000.0000005, 2_280_000_000.0, "qty", NO_CHANGE),
    (70_636_112.30516, 70_636_112.3, "qty", NO_CHANGE),
    (411_000_000.03, 411_000_000.0, "qty", NO_CHANGE),
    # rounded at the figure's last digit (0.1 million), never finer
    (70_600_000.0, 73_814_567.0, "qty", "\u22123.2 million"),
    (60_000_000.0, 59_950_000.0, "qty", "+100,000"),  # half of 0.1 million: away from zero
    (60_000_000.0, 59_950_001.0, "qty", NO_CHANGE),
    (1.23e9, 1.2e9, "qty", "+30 million"),
    (730_000.0, 2_570_000.0, "qty", "\u22121.84 million"),
    (0.0, 2_570_000.0, "qty", "\u22122.57 million"),  # a figure of 0: the status quo's precision
    (0.0123, 5.2123, "qty", "\u22125.20"),  # at most 3 significant digits of the change itself
    (1e12, 0.0, "qty", "+1.00 trillion"),
    # hours and percentages: 1 decimal, the difference taken in decimal (binary gives 0.0499...)
    (40.05, 40.0, "dec", "+0.1"), (39.95, 40.0, "dec", "\u22120.1"), (40.04, 40.0, "dec", NO_CHANGE),
    (21.0, 18.0, "pct", "+3.0 points"), (5.0000004, 5.0, "pct", NO_CHANGE),
    (float("nan"), 1.0, "qty", "not known")])
def test_changes_are_rounded_at_their_figures_precision(value, reference, kind, text):
    assert summaries.fmt_change(value, reference, kind) == text


# one variant, one workplace, one sector: every field with numbers chosen by hand
VALUES = {"output": (60_000_000.0, 59_950_000.0), "equipment": (1e12, 0.0), "hours": (37.25, 40.0),
          "consumption": (29.65, 29.6), "growth": (2.0000004, 2.0), "public_share": (21.0, 18.0),
          "investment_share": (5.0, 5.0), "sector_output": (411_000_000.03, 411_000_000.0),
          "hours_total": (3.68e9, 3.68e9), "consumption_total": (2_280_000_001.0, 2_280_000_000.0),
          "public_total": (999_999.0, 1_000_000.0), "investment_total": (184_450_000.0, 0.0),
          "replacement_total": (650_000_000.0, 651_000_000.0)}
# (text, text_change) of each field, written out
EXPECTED = {"output": ("60.0 million", "+100,000"), "equipment": ("1.00 trillion", "+1.00 trillion"),
            "hours": ("37.3", "\u22122.8"), "consumption": ("29.7", "+0.1"), "growth": ("2.0%", NO_CHANGE),
            "public_share": ("21.0%", "+3.0 points"), "investment_share": ("5.0%", NO_CHANGE),
            "sector_output": ("411 million", NO_CHANGE), "hours_total": ("3.68 billion", NO_CHANGE),
            "consumption_total": ("2.28 billion", NO_CHANGE), "public_total": ("1.00 million", NO_CHANGE),
            "investment_total": ("184 million", "+184 million"),
            "replacement_total": ("650 million", "\u22121 million")}
SPOKEN_TAIL = {"output": "60.0 million tonnes a year, +100,000.",
               "equipment": "1.00 trillion hours, +1.00 trillion.", "hours": "37.3 hours, \u22122.8.",
               "consumption": "29.7 hours, +0.1.", "growth": "2.0%, no change.",
               "public_share": "21.0%, +3.0 points.", "investment_share": "5.0%, no change.",
               "sector_output": "411 million tonnes a year, no change.",
               "hours_total": "3.68 billion hours, no change.", "consumption_total": "2.28 billion hours, no change.",
               "public_total": "1.00 million hours, no change.", "investment_total": "184 million hours, +184 million.",
               "replacement_total": "650 million hours, \u22121 million."}


def _cards() -> CardArrays:
    scope = {f[0]: f[3] for f in FIELDS}
    values, sq = {}, {}
    for key in KEYS:
        v, s = VALUES[key]
        values[key] = np.array([[v]]) if scope[key] in ("workplace", "sector") else np.array([v])
        sq[key] = np.array([s]) if scope[key] in ("workplace", "sector") else np.float64(s)
    return CardArrays(names=["A"], keys=["k"], ent_ids=["steel-1"], ent_names=["Steel works no. 1"],
                      ent_sector=np.array([0]), sectors=["Steel"], units=["tonnes"], values=values, status_quo=sq)


def test_each_field_of_a_card_reads_as_written_by_hand():
    assert set(KEYS) <= set(EXPECTED), "a new card field needs its expected text here"
    card = card_dict(_cards(), 0, 0)
    got = {f["key"]: (f["text"], f["text_change"]) for f in card["fields"]}
    assert got == {k: EXPECTED[k] for k in KEYS}
    f = {x["key"]: x for x in card["fields"]}
    assert f["output"]["text_change_pct"] == "+0.1%"  # 50,000 of 59.95 million: 0.083%
    assert f["sector_output"]["text_change_pct"] == NO_CHANGE
    lines = card_text(card).split("\n")
    assert lines[0] == "Variant A. Steel works no. 1, Steel. Each figure, then its change on today."
    spoken = [k for k in KEYS if k in SPOKEN]  # the fields read aloud, in the card's order
    assert lines[1:len(spoken) + 1] == [f"{SPOKEN[k]}: {SPOKEN_TAIL[k]}" for k in spoken]
    assert lines[len(spoken) + 1:] == ["No earlier published version.", card["rounding"]]


def test_no_figure_on_a_card_uses_scientific_notation():
    c = _cards()
    for key in KEYS:
        c.values[key] = c.values[key] * 0 + 1.234e21
    text = card_text(card_dict(c, 0, 0))
    assert "e+" not in text and "1,230,000,000 trillion" in text


def test_a_variant_identical_to_the_status_quo_shows_no_change_on_any_card():
    e = demo_economy()
    sq = parameters_with_defaults({}, e)["status_quo"]  # today's decision, as the document states it
    pr = produce(make_inputs(e, [], {"variants": [{"name": "A", "decision": sq, "proposals": []}]}))
    assert pr.doc["status_quo"]["decision"] == sq
    cards = pr.cards
    shown = [(i, f["key"], f["text_change"]) for i in range(cards.E) for f in card_dict(cards, 0, i)["fields"]
             if f["text_change"] != NO_CHANGE]
    assert shown == []
    assert card_text(card_dict(cards, 0, 0)).count(NO_CHANGE) == len([k for k in KEYS if k in SPOKEN])


def test_ranges_say_whether_the_variant_stays_within_capacity_across_the_samples():
    c = _cards()
    samples = [{k: v * (1 + d) for k, v in c.values.items()} for d in (-0.01, 0.0, 0.01, 0.02)]
    arrays = [SimpleNamespace(feasible=np.array([u <= 1.0]), max_utilisation=np.array([u]))
              for u in (0.97, 0.99, 1.01, 1.03)]
    attach_ranges(c, samples, arrays)
    est = card_dict(c, 0, 0)["estimates"]
    assert est == {"samples": 4, "within_capacity": 2, "max_utilisation": [0.97, 1.03],
                   "text": "Within capacity in 2 of 4 samples of the estimates."}
    assert "Within capacity in 2 of 4 samples of the estimates." in card_text(card_dict(c, 0, 0)).split("\n")
    all_in = [SimpleNamespace(feasible=np.array([True]), max_utilisation=np.array([0.9]))] * 4
    attach_ranges(c, samples, all_in)
    assert card_dict(c, 0, 0)["estimates"]["text"] == "Within capacity in all 4 samples of the estimates."
    none_in = [SimpleNamespace(feasible=np.array([False]), max_utilisation=np.array([1.2]))] * 4
    attach_ranges(c, samples, none_in)
    assert card_dict(c, 0, 0)["estimates"]["text"] == "Over capacity in all 4 samples of the estimates."


def test_estimated_demo_cards_count_the_samples_within_capacity_and_keep_it_in_the_document():
    # a variant that uses 99.9% of its tightest sector's capacity, with that sector's inputs
    # estimated at +-20%: some samples go over capacity, and the card says in how many
    e = demo_economy()
    d = dict(parameters_with_defaults({}, e)["status_quo"])
    first = produce(make_inputs(e, [], {"variants": [{"name": "A", "decision": d, "proposals": []}]})).computation
    t, u = int(first.arrays.tightest[0]), float(first.arrays.max_utilisation[0])
    d["hours_per_week"] *= 0.999 / u  # outputs are proportional to the hours worked
    est = [{"row": e.sectors[t], "col": s, "low": 0.8 * float(e.A[t, j]), "high": 1.2 * float(e.A[t, j])}
           for j, s in enumerate(e.sectors) if e.A[t, j] > 0]
    pr = produce(make_inputs(e, [], {"variants": [{"name": "A", "decision": d, "proposals": []}],
                                     "estimates": est, "samples": 8, "seed": 3}))
    assert pr.computation.arrays.feasible[0]
    s = pr.cards.samples
    assert s["count"] == 8 and 0 < s["within_capacity"][0] < 8
    lo, hi = s["max_utilisation"][0]
    assert lo <= 1.0 < hi
    card = card_dict(pr.cards, 0, 0)
    assert card["estimates"]["text"] == f"Within capacity in {s['within_capacity'][0]} of 8 samples of the estimates."
    assert card_dict(cards_from_doc(pr.doc), 0, 0)["estimates"] == card["estimates"]

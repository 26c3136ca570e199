"""Cards: the same fields in the same order everywhere, totals that add up, text short enough to read aloud."""

import numpy as np
import pytest

from planfactory.demo import demo_economy
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.pipeline import make_inputs, produce
from planfactory.proposals import parse_proposals
from planfactory.summaries import FIELDS, card_dict, card_text, fmt_signed, fmt_value


@pytest.fixture(scope="module")
def produced():
    e = demo_economy()
    ents = e.enterprises
    props = parse_proposals([
        {"enterprise": ents[5].id, "output_change_percent": 30},
        {"enterprise": ents[40].id, "output_change_percent": 40, "equipment": {"Machinery": 500}},
        {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1},
    ], e)
    return e, produce(make_inputs(e, props, {"estimates": [{"row": "Energy", "col": "Steel", "low": 0.05,
                                                             "high": 0.09}], "samples": 6}))


def test_every_card_has_the_same_fields_in_the_same_order(produced):
    e, pr = produced
    cards = pr.cards
    assert 3 <= cards.K <= 5
    ref = None
    for k in range(cards.K):
        for i in range(0, cards.E, 7):
            c = card_dict(cards, k, i)
            shape = [(f["key"], f["unit"].replace(cards.units[int(cards.ent_sector[i])], "U"), sorted(f))
                     for f in c["fields"]]
            if ref is None:
                ref = shape
            assert shape == ref
    assert [key for key, *_ in FIELDS] == [f[0] for f in ref]


def test_card_totals_add_up_to_the_economy(produced):
    e, pr = produced
    c = pr.cards
    W = np.array([x.workforce for x in e.enterprises], dtype=float)
    assert W.sum() == e.workforce
    for k in range(c.K):
        out = c.values["output"][:, k]
        per_sector = np.bincount(c.ent_sector, weights=out, minlength=e.n)
        assert np.allclose(per_sector, c.values["sector_output"][:, k], rtol=1e-9)
        assert c.values["equipment"][:, k].sum() == pytest.approx(c.values["investment_total"][k], rel=1e-9)
        hours = (W * c.values["hours"][:, k] * WEEKS_PER_YEAR).sum()
        assert hours == pytest.approx(c.values["hours_total"][k], rel=1e-9)
        assert (c.values["consumption"][k] * e.workforce * WEEKS_PER_YEAR
                == pytest.approx(c.values["consumption_total"][k], rel=1e-9))
        tot = c.values["consumption_total"][k] + c.values["public_total"][k] + c.values["investment_total"][k]
        assert tot == pytest.approx(c.values["hours_total"][k], rel=1e-9)
        assert c.values["public_share"][k] == pytest.approx(100 * c.values["public_total"][k] / tot)


def test_text_reads_in_under_a_minute_and_shows_signs(produced):
    e, pr = produced
    for k in range(pr.cards.K):
        for i in range(0, pr.cards.E, 11):
            card = card_dict(pr.cards, k, i, {"input_hash": pr.doc["input_hash"]})
            text = card_text(card)
            assert len(text.split()) <= 150  # at 150 words a minute
            for f in card["fields"]:
                assert f["text_change"][0] in "+\u2212" or f["text_change"] == "no change", f["text_change"]
            assert text.count(card["rounding"]) == 1


def test_estimated_coefficients_give_ranges(produced):
    e, pr = produced
    # energy's output depends on the estimated input of energy into steel (A[Energy, Steel] in [0.05, 0.09])
    j = int(np.flatnonzero(pr.cards.ent_sector == e.sectors.index("Energy"))[0])
    g = {x["key"]: x for x in card_dict(pr.cards, 0, j)["fields"]}
    lo, hi = g["sector_output"]["range"]
    assert lo <= g["sector_output"]["value"] <= hi and lo < hi
    assert g["sector_output"]["text_range"] == f"{fmt_value(lo, 'qty')} to {fmt_value(hi, 'qty')}"
    # a field that does not depend on A (hours per week) gives no range
    assert g["hours"]["range"] is None


@pytest.mark.parametrize("x, kind, text", [
    (1234567.0, "qty", "1.23 million"), (98765.0, "qty", "98,800"), (0.012345, "qty", "0.0123"),
    (-2.04, "dec", "\u22122.0"), (12.345, "pct", "12.3%"), (3.2e9, "qty", "3.20 billion")])
def test_rounding(x, kind, text):
    assert fmt_value(x, kind) == text


def test_signs():
    assert fmt_signed(0.04, "dec") == "\u00b10"
    assert fmt_signed(1.25, "pts") == "+1.2 points" or fmt_signed(1.25, "pts") == "+1.3 points"
    assert fmt_signed(-1500, "qty") == "\u22121,500"


def test_estimated_labour_gives_a_range_of_consumption_per_person():
    # hours per unit of energy between 0.5 and 1.5 of its value: labour values change, so the
    # basket an hour buys changes, and so do the outputs; hours worked do not
    e = demo_economy()
    l0 = float(e.labour[0])
    pr = produce(make_inputs(e, [], {"estimates": [{"matrix": "labour", "row": "Energy", "low": 0.5 * l0,
                                                    "high": 1.5 * l0}], "samples": 4, "select": 3}))
    card = {x["key"]: x for x in card_dict(pr.cards, 0, 0)["fields"]}
    lo, hi = card["sector_output"]["range"]
    assert lo < card["sector_output"]["value"] < hi
    assert card["hours_total"]["range"] is None


def test_bad_estimates_are_refused():
    e = demo_economy()
    with pytest.raises(ValueError, match="estimates\\[0\\]"):
        produce(make_inputs(e, [], {"estimates": [{"row": "Nowhere", "col": "Steel", "low": 0, "high": 1}]}))
    with pytest.raises(ValueError, match="estimates\\[0\\].matrix"):
        produce(make_inputs(e, [], {"estimates": [{"matrix": "Z", "row": 0, "col": 0, "low": 0, "high": 1}]}))

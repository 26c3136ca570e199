"""Each shown variant says what it gains over the others on the four criteria, and whether its
growth is at the limit labour sets (issue 13, "Honest growth"): checked against the decisions'
own numbers, compared here by hand, not through the code that writes the sentences."""

import pytest

from planfactory.demo import demo_economy
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.pipeline import CRITERIA, make_inputs, produce


@pytest.fixture(scope="module")
def doc():
    return produce(make_inputs(demo_economy(), [], None)).doc


def test_the_four_criteria_are_named(doc):
    assert doc["criteria"] == CRITERIA and len(CRITERIA) == 4


def test_gains_follow_the_decisions(doc):
    e = demo_economy()
    vs = doc["variants"]
    assert len(vs) >= 3
    for v in vs:
        assert [g["over"] for g in v["gains"]] == [w["name"] for w in vs if w is not v]
        for g in v["gains"]:
            w = next(x for x in vs if x["name"] == g["over"])
            h_v, h_w = v["decision"]["hours_per_week"], w["decision"]["hours_per_week"]  # no proposals: the decision's
            assert ("fewer hours" in g["text"]) == (round(h_v, 1) < round(h_w, 1)), g
            # private consumption per worker a week = private share x hours x the year's weeks / weeks
            c_v, c_w = v["decision"]["consumption_share"] * h_v, w["decision"]["consumption_share"] * h_w
            assert ("more private consumption" in g["text"]) == (round(c_v, 1) > round(c_w, 1)), g
            p_v, p_w = v["decision"]["public_share"] * h_v, w["decision"]["public_share"] * h_w
            assert ("more public consumption" in g["text"]) == (round(p_v, 1) > round(p_w, 1)), g
    assert WEEKS_PER_YEAR == 46.0


def test_growth_at_the_labour_cap_is_said(doc):
    cap = 100 * ((1 + 0.02) * (1 + 0.0) - 1)  # the default assumptions: productivity 2%, workforce 0%
    capped = [v for v in doc["variants"] if v["growth_capped_by_labour"]]
    assert capped, "the demo's variants reach labour's limit"
    for v in doc["variants"]:
        g = v["economy"]["growth"]
        assert v["growth_capped_by_labour"] == (g >= cap - 1e-6), (v["name"], g)
        assert "estimate over 10 years" in v["growth_note"]
        assert ("at the limit labour sets (2.0% a year" in v["growth_note"]) == v["growth_capped_by_labour"]


def test_a_variant_identical_to_today_says_every_output_is_kept():
    today = {"hours_per_week": 40, "consumption_share": 0.74, "public_share": 0.21, "investment_share": 0.05}
    doc = produce(make_inputs(demo_economy(), [], {"variants": [{"decision": today, "proposals": []}]})).doc
    lines = doc["variants"][0]["implications"]
    assert lines and all(" keeps its output at " in line for line in lines), lines
    assert not any("\u00b10" in line for line in lines)


def test_each_card_says_its_growth_is_an_estimate_and_whether_labour_caps_it(doc):
    from planfactory.pipeline import cards_from_doc
    from planfactory.summaries import card_dict

    cards = cards_from_doc(doc)  # as published: the notes survive the document
    for k, v in enumerate(doc["variants"]):
        growth = next(f for f in card_dict(cards, k, 0)["fields"] if f["key"] == "growth")
        assert growth["note"].startswith("estimate: average a year over 10 years")
        assert ("capped by labour" in growth["note"]) == v["growth_capped_by_labour"]

"""Hashes and verify: a published document recomputes to itself; any changed number is caught."""

import copy
import json

import numpy as np
import pytest

from planfactory.demo import demo_economy
from planfactory.formats import to_dict
from planfactory.proposals import parse_proposals
from planfactory.summaries import card_dict
from planfactory.verify import (canonical_json, card_meta, cards_from_doc, make_inputs, produce, sha256,
                                verify_card, verify_document)


@pytest.fixture(scope="module")
def published():
    e = demo_economy()
    ents = e.enterprises
    props = parse_proposals([{"enterprise": ents[5].id, "output_change_percent": 30},
                             {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1}], e)
    inputs = make_inputs(e, props, {"select": 4})
    doc = json.loads(json.dumps(produce(inputs).doc))  # as it travels: through JSON
    return e, props, inputs, doc


def test_canonical_json_is_stable():
    assert canonical_json({"b": 1.5, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1.5}'.encode()
    assert sha256({"x": 0.1}).startswith("sha256:") and len(sha256({"x": 0.1})) == 71


def test_a_fresh_document_verifies(published):
    e, props, inputs, doc = published
    r = verify_document(doc)
    assert r["ok"], r["differences"][:5]
    assert doc["input_hash"] == sha256(inputs)
    assert doc["hashes"]["economy"] == sha256(to_dict(e))


@pytest.mark.parametrize("path", [
    ("variants", 1, "economy", "consumption"),
    ("variants", 0, "sector_output", 3),
    ("cards", "values", "output", 17, 2),
    ("cards", "values", "growth", 0),
    ("status_quo", "economy", "hours_total"),
])
def test_verify_catches_a_changed_number(published, path):
    doc = copy.deepcopy(published[3])
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = node[path[-1]] * 1.0001 + 0.001
    r = verify_document(doc)
    assert not r["ok"]
    want = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert [d["path"] for d in r["differences"]] == [want]


def test_verify_catches_changed_inputs(published):
    doc = copy.deepcopy(published[3])
    doc["inputs"]["economy"]["labour"][0] *= 1.01
    r = verify_document(doc)
    assert not r["ok"]
    assert r["differences"][0]["path"] == "$.input_hash"
    assert len(r["differences"]) > 5  # and the numbers that follow from them


def test_a_card_verifies_and_a_changed_card_number_is_caught(published):
    e, props, inputs, doc = published
    cards = cards_from_doc(doc)
    card = json.loads(json.dumps(card_dict(cards, 1, 7, card_meta(doc, "x"))))
    assert verify_card(card, doc)["ok"]
    card["fields"][0]["value"] += 1.0
    r = verify_card(card, doc)
    assert not r["ok"] and r["differences"][0]["path"] == "$.fields[0].value"
    card = json.loads(json.dumps(card_dict(cards, 1, 7, card_meta(doc, "x"))))
    card["fields"][3]["text"] = "99.9"
    assert [d["path"] for d in verify_card(card, doc)["differences"]] == ["$.fields[3].text"]


def test_revision_shows_what_changed_since_the_last_version(published):
    e, props, inputs, doc = published
    pinned = [{"name": v["name"], "decision": v["decision"], "proposals": v["proposals"]} for v in doc["variants"]]
    new_e = demo_economy()
    new_e.A = np.array(new_e.A, copy=True)
    steel, energy = new_e.sectors.index("Steel"), new_e.sectors.index("Energy")
    new_e.A[energy, steel] *= 0.5  # the coefficient department: steel needs half the energy
    new_inputs = make_inputs(new_e, props, {**inputs["parameters"], "variants": pinned})
    old_pinned = {**inputs, "parameters": {**inputs["parameters"], "variants": pinned}}
    rev = produce(new_inputs, old_pinned)
    c = rev.cards
    assert c.names == [v["name"] for v in doc["variants"]]
    assert c.previous is not None
    prev_out = c.previous["sector_output"]
    now_out = c.values["sector_output"]
    # Energy's output falls in every variant; the old numbers are the published ones
    assert np.all(now_out[energy] < prev_out[energy])
    assert np.allclose(prev_out, np.array([v["sector_output"] for v in doc["variants"]]).T, rtol=1e-9)
    card = card_dict(c, 0, int(np.flatnonzero(c.ent_sector == energy)[0]))
    f = {x["key"]: x for x in card["fields"]}
    assert f["sector_output"]["change_previous"] < 0
    assert f["sector_output"]["text_change_previous"].startswith("\u2212")
    assert verify_document(json.loads(json.dumps(rev.doc)))["ok"]
    # with the changes since the last version on every line, the text still reads in under a minute
    from planfactory.summaries import card_text

    assert max(len(card_text(card_dict(c, k, i)).split()) for k in range(c.K) for i in range(c.E)) <= 150
    # what changed and for whom: energy works are named, in every variant
    for ch in rev.doc["changes"]:
        assert ch["comparable"] and ch["workplaces_changed"] > 0
        assert any(w["sector"] == "Energy" for w in ch["workplaces"])
        assert all(w["output"] != w["previous"] for w in ch["workplaces"])

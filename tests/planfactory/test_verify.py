"""verify: a published document recomputes to itself; any changed number is caught.

The ``published`` fixture (a document through JSON) is in conftest.py.
"""

import copy
import json

import pytest

from planfactory.document import sha256
from planfactory.formats import to_dict
from planfactory.pipeline import card_meta, cards_from_doc
from planfactory.summaries import card_dict
from planfactory.verify import verify_card, verify_document


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

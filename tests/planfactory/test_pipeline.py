"""The pipeline: inputs -> variants -> cards -> document, with every step's result named."""

import dataclasses
import json

import numpy as np
import pytest

from planfactory.demo import demo_economy
from planfactory.pipeline import Computation, cards_for, cards_from_doc, make_inputs, produce
from planfactory.summaries import card_dict, card_text
from planfactory.verify import verify_document


def test_cards_for_names_every_step(published):
    e, props, inputs, doc = published
    comp = cards_for(demo_economy(), props, inputs["parameters"])
    assert isinstance(comp, Computation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        comp.names = []
    assert comp.names == [v["name"] for v in doc["variants"]]
    assert comp.specs.V == comp.arrays.V == doc["sweep"]["variants"] == comp.groups.size
    assert comp.proposal_sets == doc["sweep"]["proposal_sets"] and comp.processes is None
    assert comp.status_quo.V == 1 and comp.cards.K == comp.chosen.size
    assert comp.report.to_dict()["all_fit"] == doc["incompatibilities"]["all_fit"]


def test_cards_from_doc_reads_back_the_computed_cards(published):
    e, props, inputs, doc = published
    fresh = produce(inputs).cards
    stored = cards_from_doc(doc)
    assert (stored.names, stored.keys, stored.ent_ids) == (fresh.names, fresh.keys, fresh.ent_ids)
    for k in range(fresh.K):
        for i in (0, 7, fresh.E - 1):
            assert card_dict(stored, k, i) == json.loads(json.dumps(card_dict(fresh, k, i)))


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
    assert max(len(card_text(card_dict(c, k, i)).split()) for k in range(c.K) for i in range(c.E)) <= 150
    # what changed and for whom: energy works are named, in every variant
    for ch in rev.doc["changes"]:
        assert ch["comparable"] and ch["workplaces_changed"] > 0
        assert any(w["sector"] == "Energy" for w in ch["workplaces"])
        assert all(w["output"] != w["previous"] for w in ch["workplaces"])

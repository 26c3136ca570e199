"""The hash chain: re-adding works; a changed, removed, added or reordered record is caught."""

import pytest
import copy
import hashlib
import json

from voting.audit import FORMAT, definition, find_receipt, genesis_hash, record_hash, verify_export
from voting.result import compute_result


def build(counts_by_ga, options=("A", "B")):
    """An export built independently of the store, record by record."""
    defn = definition("r-1", "Plan", list(options), None, "decision")
    prev = genesis = genesis_hash(defn)
    records, versions = [], {}
    for seq, (aid, counts, abstain) in enumerate(copy.deepcopy(counts_by_ga), start=1):
        versions[aid] = versions.get(aid, 0) + 1
        rec = {"round": "r-1", "seq": seq, "assembly": aid, "version": versions[aid],
               "present": sum(counts.values()) + abstain, "abstain": abstain, "counts": counts,
               "source": "clerk", "received_at": 1000.0 + seq, "prev": prev}
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
        records.append(rec)
    standing = {r["assembly"]: r for r in records}
    res = compute_result(list(options), [{"id": a, "counts": r["counts"], "present": r["present"],
                                          "abstain": r["abstain"], "hash": r["hash"], "members": 100}
                                         for a, r in standing.items()], 300)
    res.update(final_hash=prev, records=len(records))
    return {"format": FORMAT, "definition": defn, "genesis": genesis, "records": records, "result": res}


SAMPLE = [("ga1", {"A": 5, "B": 3}, 1), ("ga2", {"A": 1, "B": 7}, 0), ("ga1", {"A": 6, "B": 3}, 0)]


def test_record_hash_is_sha256_of_canonical_json():
    rec = {"round": "r", "seq": 1, "assembly": "g", "version": 1, "present": 2, "abstain": 0,
           "counts": {"B": 1, "A": 1}, "source": "clerk", "received_at": 1.5, "prev": "00"}
    text = ('{"abstain":0,"assembly":"g","counts":{"A":1,"B":1},"present":2,"prev":"00","received_at":1.5,'
            '"round":"r","seq":1,"source":"clerk","version":1}')
    assert record_hash(rec) == hashlib.sha256(text.encode()).hexdigest()


def test_intact_export_verifies_and_recount_stands():
    e = build(SAMPLE)
    rep = verify_export(e)
    assert rep["ok"], rep["errors"]
    assert rep["totals"] == {"A": 6 + 1, "B": 3 + 7}  # ga1's recount replaces its first count
    assert find_receipt(e, e["records"][2]["hash"]) == {"found": True, "counted": True, "assembly": "ga1",
                                                        "seq": 3, "version": 2}
    assert find_receipt(e, e["records"][0]["hash"])["counted"] is False
    assert find_receipt(e, "f" * 64)["found"] is False


def test_changed_record_is_detected():
    e = build(SAMPLE)
    e["records"][1]["counts"]["B"] = 8
    assert any("record changed" in x for x in verify_export(e)["errors"])


def test_changed_record_with_recomputed_hash_breaks_the_chain():
    e = build(SAMPLE)
    e["records"][1]["counts"]["B"] = 8
    e["records"][1]["hash"] = record_hash(e["records"][1])
    errs = verify_export(e)["errors"]
    assert any("chain broken" in x for x in errs)


def test_removed_last_record_is_detected_by_the_published_final_hash():
    e = build(SAMPLE)
    e["records"].pop()
    errs = verify_export(e)["errors"]
    assert any("final hash" in x for x in errs) and any("counts 3 records" in x for x in errs)


def test_removed_middle_record_and_reordering_are_detected():
    e = build(SAMPLE)
    del e["records"][1]
    assert not verify_export(e)["ok"]
    e = build(SAMPLE)
    e["records"][0], e["records"][1] = e["records"][1], e["records"][0]
    assert not verify_export(e)["ok"]


def test_published_totals_that_do_not_re_add_are_detected():
    e = build(SAMPLE)
    e["result"]["totals"]["A"] += 1
    assert any(x.startswith("totals") for x in verify_export(e)["errors"])
    e = build(SAMPLE)
    e["definition"]["options"] = ["A", "B", "C"]
    assert any("genesis" in x for x in verify_export(e)["errors"])


def test_export_survives_a_json_round_trip():
    e = json.loads(json.dumps(build(SAMPLE)))
    assert verify_export(copy.deepcopy(e))["ok"]


def test_impossible_numbers_fail_verification_even_when_the_chain_is_consistent():
    """Issue 10, attack 4: counts rewritten before the close, with every hash recomputed, published
    'present 103 of 10 registered, turnout 10.3' and verify-round said OK."""
    exp = build([("ga1", {"A": 101, "B": 2}, 0)])
    exp["result"]["assemblies"][0]["members"] = 10
    exp["result"]["registered"] = 10
    exp["result"]["turnout"] = 10.3
    out = verify_export(exp)
    assert not out["ok"]
    assert any("103 present of 10 members" in e for e in out["errors"])
    assert any("turnout" in e for e in out["errors"])
    assert any("103 present of 10 registered" in e for e in out["errors"])


def test_anomalies_found_at_the_close_fail_verification():
    exp = build(SAMPLE)
    exp["result"]["anomalies"] = ["ga1: 3 sealed ballots open, 103 were accepted"]
    out = verify_export(exp)
    assert not out["ok"] and out["errors"] == ["the close found: ga1: 3 sealed ballots open, 103 were accepted"]


def test_votes_beyond_those_present_fail_verification():
    exp = build(SAMPLE)
    exp["result"]["assemblies"][0]["present"] = 1
    assert any("votes and abstentions" in e for e in verify_export(exp)["errors"])


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("field,value", [("hash", "0" * 64), ("present", 999), ("abstain", 99)])
def test_every_assembly_published_count_is_checked_against_its_last_record(which, field, value):
    """A verify that skipped the published-versus-record check for one assembly passed (issue 10):
    each assembly, first, middle and last, is checked on its own."""
    exp = build([("ga1", {"A": 5, "B": 3}, 1), ("ga2", {"A": 1, "B": 7}, 0), ("ga3", {"A": 2, "B": 2}, 0)])
    aid = exp["result"]["assemblies"][which]["id"]
    exp["result"]["assemblies"][which][field] = value
    out = verify_export(exp)
    assert not out["ok"] and any(f"assembly {aid}: published count differs" in e for e in out["errors"])

"""A database written before the running sums (voting schema step 5) keeps its results: the
upgrade fills the standing counts from the chain, an open round's sums are added up once at its
next count, and a round published before keeps the breakdown stored with it."""

import json
import time

from councilcast.storage import Database
from councilcast.stores.voting import VotingStore
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL
from voting.audit import record_hash, verify_export
from voting.result import compute_result
from voting.rules import check_round_spec


def _as_before_step_5(db: Database) -> None:
    """What a database of the code before step 5 held: the same chain, no standing or sums."""
    def drop(c):
        c.execute("DROP TABLE voting_standing")
        c.execute("DROP TABLE voting_sums")
        c.execute("DELETE FROM schema_migrations WHERE area='voting' AND version=5")
    db.write_sync(drop)


def test_an_upgraded_database_closes_open_rounds_on_the_whole_chain(db_url):
    st, now = VotingStore(), time.time()
    db = Database(db_url)
    db.open()
    gas = db.write_sync(lambda c: [st.create_assembly(c, {"name": f"GA {i}", "members": 50, "workplace": None},
                                                      now - 5) for i in range(4)])
    spec = check_round_spec({"title": "Q", "options": ["A", "B"], "duration_s": 600}, now)
    early, late = (db.write_sync(lambda c: st.create_round(c, spec, now)) for _ in range(2))
    sent = {}
    for ga, counts in ((gas[0], {"A": 5, "B": 1}), (gas[1], {"A": 2, "B": 2}), (gas[0], {"A": 1, "B": 4})):
        body = {"present": 20, "abstain": 1, "counts": counts}
        for r in (early, late):
            db.write_sync(lambda c: st.add_tally(c, r["id"], ga["id"], body, time.time()))
        sent[ga["id"]] = body
    db.write_sync(lambda c: st.close_round(c, early["id"], time.time()))
    # the result as the old code stored it: its breakdown inside (read here from the standing counts)
    old_result = db.read_sync(lambda c: st.get_round(c, early["id"]))["result"]
    db.write_sync(lambda c: c.execute("UPDATE voting_rounds SET result=? WHERE id=?",
                                      (json.dumps(old_result), early["id"])))
    _as_before_step_5(db)
    db.close()

    db = Database(db_url)
    db.open()  # step 5 again: the standing counts filled from the chain
    standing = db.read_sync(lambda c: c.execute("SELECT assembly_id, version FROM voting_standing WHERE round_id=?",
                                                (late["id"],)).fetchall())
    assert dict(tuple(row) for row in standing) == {gas[0]["id"]: 2, gas[1]["id"]: 1}
    body = {"present": 30, "abstain": 0, "counts": {"A": 0, "B": 9}}
    rec = db.write_sync(lambda c: st.add_tally(c, late["id"], gas[2]["id"], body, time.time()))
    sent[gas[2]["id"]] = body
    assert rec["seq"] == 4 and rec["version"] == 1  # the head found in the chain: the 4th record
    db.write_sync(lambda c: st.close_round(c, late["id"], time.time()))
    res = db.read_sync(lambda c: st.get_round(c, late["id"]))["result"]
    ref = compute_result(["A", "B"], [{"id": a, **b} for a, b in sent.items()], 4 * 50)
    for key in ("totals", "carried", "assemblies_tied", "abstain", "present", "assemblies_reporting", "decision"):
        assert res[key] == ref[key], key
    assert res["records"] == 4 and [a["id"] for a in res["assemblies"]] == sorted(sent)
    export = db.read_sync(lambda c: st.export(c, late["id"]))
    assert res["final_hash"] == export["records"][-1]["hash"] and verify_export(export)["ok"]
    assert db.read_sync(lambda c: st.get_round(c, early["id"]))["result"] == old_result  # kept as stored
    db.close()


def test_records_appended_by_a_server_older_than_the_sums_are_added_up_again(db_url):
    """A rolling upgrade on one PostgreSQL database: a process still on the code before step 5
    appends a record to the chain only. The next count and the close see that the sums' head is
    not the chain's and add the round up again from the chain (found by review: the next count
    collided on its sequence number and the close published the sums without that record)."""
    st, now = VotingStore(), time.time()
    db = Database(db_url)
    db.open()
    g = db.write_sync(lambda c: [st.create_assembly(c, {"name": f"G{i}", "members": 30, "workplace": None}, now - 5)
                                 for i in range(3)])
    spec = check_round_spec({"title": "Q", "options": ["A", "B"], "duration_s": 600}, now)
    r = db.write_sync(lambda c: st.create_round(c, spec, now))
    sent = {g[0]["id"]: {"present": 5, "abstain": 0, "counts": {"A": 4, "B": 1}}}
    db.write_sync(lambda c: st.add_tally(c, r["id"], g[0]["id"], sent[g[0]["id"]], time.time()))

    def as_the_old_code_appended(c, aid, body, version):
        seq, prev = c.execute("SELECT seq, hash FROM voting_records WHERE round_id=? ORDER BY seq DESC LIMIT 1",
                              (r["id"],)).fetchone()
        rec = {"round": r["id"], "seq": seq + 1, "assembly": aid, "version": version, "present": body["present"],
               "abstain": body["abstain"], "counts": body["counts"], "source": "clerk", "received_at": time.time(),
               "prev": prev}
        rec["hash"] = record_hash(rec)
        c.execute("INSERT INTO voting_records(round_id, seq, assembly_id, version, present, abstain, counts, source,"
                  " received_at, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (r["id"], rec["seq"], aid, version, body["present"], body["abstain"], json.dumps(body["counts"]),
                   "clerk", rec["received_at"], prev, rec["hash"]))

    old = {"present": 20, "abstain": 0, "counts": {"A": 0, "B": 20}}
    db.write_sync(lambda c: as_the_old_code_appended(c, g[1]["id"], old, 1))
    recount = {"present": 6, "abstain": 1, "counts": {"A": 1, "B": 4}}  # an old-code recount of g0, too
    db.write_sync(lambda c: as_the_old_code_appended(c, g[0]["id"], recount, 2))
    sent[g[1]["id"]], sent[g[0]["id"]] = old, recount
    rec = db.write_sync(lambda c: st.add_tally(c, r["id"], g[2]["id"], {"present": 9, "abstain": 0,
                                                                         "counts": {"A": 9, "B": 0}}, time.time()))
    sent[g[2]["id"]] = {"present": 9, "abstain": 0, "counts": {"A": 9, "B": 0}}
    assert rec["seq"] == 4
    db.write_sync(lambda c: as_the_old_code_appended(c, g[1]["id"], {"present": 20, "abstain": 0,
                                                                     "counts": {"A": 2, "B": 18}}, 2))
    sent[g[1]["id"]] = {"present": 20, "abstain": 0, "counts": {"A": 2, "B": 18}}
    closed = db.write_sync(lambda c: st.close_round(c, r["id"], time.time()))["result"]
    ref = compute_result(["A", "B"], [{"id": a, **b} for a, b in sent.items()], 3 * 30)
    for key in ("totals", "carried", "assemblies_tied", "abstain", "present", "assemblies_reporting", "winner"):
        assert closed[key] == ref[key], key
    assert closed["records"] == 5
    export = db.read_sync(lambda c: st.export(c, r["id"]))
    assert verify_export(export)["ok"], verify_export(export)["errors"]
    db.close()

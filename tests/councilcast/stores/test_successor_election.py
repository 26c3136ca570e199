"""A recalled delegate's successor through the store, on a clock the test sets: fewer than two
candidates extend the window, a tie sends the election back to nominations, no majority among
three leads to a runoff between the first two, whose winner becomes a delegate (issue 12)."""

from councilcast.storage import Database
from councilcast.stores.voting import VotingStore
from voting.rules import VotingError

import pytest
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL

T = 1_900_000_000.0


def _setup(db_url):
    db = Database(db_url)
    db.open()
    st = VotingStore()
    g1, g2 = db.write_sync(lambda c: [st.create_assembly(c, {"name": n, "members": 100, "workplace": None}, T)
                                      for n in ("G1", "G2")])
    d = db.write_sync(lambda c: st.create_delegate(c, "M", [g1["id"], g2["id"]], T))
    req = {"duration_s": 60.0, "opens_at": None, "now": False, "nomination_s": 100.0, "election_duration_s": 50.0}
    r, action = db.write_sync(lambda c: st.open_recall(c, d["id"], g1["id"], req, 0.5, T))
    assert action == "opened" and r["quorum"] == 0.5
    for g, counts in ((g1, {"recall": 80, "keep": 10}), (g2, {"recall": 40, "keep": 20})):
        db.write_sync(lambda c: st.add_tally(c, r["id"], g["id"], {"present": sum(counts.values()),
                                                                    "counts": counts}, T + 1))
    closed = db.write_sync(lambda c: st.close_round(c, r["id"], T + 10))
    assert closed["result"]["recall"]["passed"]  # 120 of 150 cast; 150 of 200 present, 100 needed
    return db, st, g1, g2, d, closed["result"]["recall"]["election"]


def test_one_candidate_extends_the_window_and_a_tie_reopens_nominations(db_url):
    db, st, g1, g2, d, eid = _setup(db_url)
    e = db.write_sync(lambda c: st.get_election(c, eid))
    assert e["state"] == "nominating" and e["nominations_close_ts"] == T + 10 + 100
    db.write_sync(lambda c: st.nominate(c, d["id"], g1["id"], "A", T + 20))
    e, r = db.write_sync(lambda c: st.open_election(c, eid, T + 50))
    assert r is None and e["state"] == "nominating"  # before the window's end: nothing
    e, r = db.write_sync(lambda c: st.open_election(c, eid, T + 110))
    assert r is None and e["nominations_close_ts"] == T + 210 and "1 candidate" in e["note"]
    db.write_sync(lambda c: st.nominate(c, d["id"], g2["id"], "B", T + 150))
    e, r = db.write_sync(lambda c: st.open_election(c, eid, T + 210))
    assert e["state"] == "voting" and r["options"] == ["A", "B"] and r["closes_at"] == T + 260
    with pytest.raises(VotingError) as exc:
        db.write_sync(lambda c: st.nominate(c, d["id"], g2["id"], "C", T + 215))
    assert exc.value.kind == "conflict"
    for g, counts in ((g1, {"A": 30, "B": 20}), (g2, {"A": 10, "B": 20})):  # 40 - 40
        db.write_sync(lambda c: st.add_tally(c, r["id"], g["id"], {"present": 50, "counts": counts}, T + 220))
    res = db.write_sync(lambda c: st.close_round(c, r["id"], T + 260))["result"]
    assert res["decision"] == "tie" and res["election"]["state"] == "nominating"
    e = db.read_sync(lambda c: st.get_election(c, eid))
    assert e["nominations_close_ts"] == T + 360 and "tie between A, B" in e["note"]
    assert [c["name"] for c in e["candidates"]] == ["A", "B"]  # they stay; more may be put forward
    db.write_sync(lambda c: st.nominate(c, d["id"], g1["id"], "C", T + 300))
    assert db.read_sync(lambda c: st.get_delegate(c, d["id"]))["successor"] is None


def test_no_majority_among_three_goes_to_a_runoff_whose_winner_is_the_successor(db_url):
    db, st, g1, g2, d, eid = _setup(db_url)
    for g, name in ((g1, "A"), (g2, "B"), (g1, "C")):
        db.write_sync(lambda c: st.nominate(c, d["id"], g["id"], name, T + 20))
    e, r = db.write_sync(lambda c: st.open_election(c, eid, T + 110))
    for g, counts in ((g1, {"A": 40, "B": 10, "C": 30}), (g2, {"A": 5, "B": 35, "C": 10})):
        db.write_sync(lambda c: st.add_tally(c, r["id"], g["id"], {"present": 80, "counts": counts}, T + 120))
    res = db.write_sync(lambda c: st.close_round(c, r["id"], T + 160))["result"]
    # A 45, B 45, C 40 of 130: no majority (66 needed); the first two are A and B
    assert res["totals"] == {"A": 45, "B": 45, "C": 40} and res["decision"] == "runoff" and res["runoff"] == ["A", "B"]
    runoff = res["runoff_round"]
    assert res["election"] == {"id": eid, "state": "voting", "round": runoff}
    ro = db.read_sync(lambda c: st.get_round(c, runoff))
    assert ro["options"] == ["A", "B"] and ro["scope"] == sorted([g1["id"], g2["id"]])
    for g, counts in ((g1, {"A": 50, "B": 25}), (g2, {"A": 10, "B": 30})):  # A 60 of 115
        db.write_sync(lambda c: st.add_tally(c, runoff, g["id"], {"present": 80, "counts": counts}, ro["opens_at"] + 1))
    res = db.write_sync(lambda c: st.close_round(c, runoff, ro["closes_at"]))["result"]
    assert res["winner"] == "A" and res["election"]["state"] == "decided"
    e = db.read_sync(lambda c: st.get_election(c, eid))
    assert e["state"] == "decided" and e["rounds"] == [r["id"], runoff] and e["successor_name"] == "A"
    succ = db.read_sync(lambda c: st.get_delegate(c, e["successor"]))
    assert succ["status"] == "active" and succ["assemblies"] == sorted([g1["id"], g2["id"]])
    assert succ["predecessor"] == {"id": d["id"], "name": "M"}
    assert db.read_sync(lambda c: st.get_delegate(c, d["id"]))["successor"] == {"id": succ["id"], "name": "A"}

"""The result of a close, from the running sums kept as counts arrive, and the breakdown read from
the standing counts, against the Python reference over every count sent (voting.result.compute_result)."""

import random
import time

from councilcast.storage import Database
from voting.result import compute_result
from voting.rules import check_round_spec
from councilcast.stores.voting import VotingStore
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL


def test_running_sums_and_breakdown_equal_the_python_reference(db_url):
    db = Database(db_url)
    db.open()
    st = VotingStore()
    rng = random.Random(4)
    options = ["Variant A", "Variant «B»", "C \"quoted\""]  # names that need escaping in JSON
    now = time.time()
    gas = db.write_sync(lambda c: [st.create_assembly(c, {"name": f"GA {i}", "members": 50, "workplace": None},
                                                      now - 5) for i in range(120)])
    spec = check_round_spec({"title": "Q", "options": options, "duration_s": 600}, time.time())
    r = db.write_sync(lambda c: st.create_round(c, spec, time.time()))
    sent = {}
    for _ in range(300):  # first counts and recounts, with ties inside assemblies
        ga = rng.choice(gas)
        counts = {o: rng.choice([0, 3, 3, 7, rng.randint(0, 12)]) for o in options}
        body = {"present": 45, "counts": counts, "abstain": rng.randint(0, 4)}
        db.write_sync(lambda c: st.add_tally(c, r["id"], ga["id"], body, time.time()))
        sent[ga["id"]] = body
    closed = db.write_sync(lambda c: st.close_round(c, r["id"], time.time()))
    res = closed["result"]
    ref = compute_result(options, [{"id": a, **b} for a, b in sent.items()], 120 * 50)
    for key in ("totals", "abstain", "present", "votes_cast", "carried", "assemblies_tied", "decision", "winner",
                "tied", "runoff", "turnout", "registered", "majority", "assemblies_reporting"):
        assert res[key] == ref[key], key
    assert "assemblies" not in res  # the close writes the sums; the breakdown is the standing counts
    published = db.read_sync(lambda c: st.get_round(c, r["id"]))["result"]
    assert {k: v for k, v in published.items() if k != "assemblies"} == res
    res = published
    assert [a["id"] for a in res["assemblies"]] == sorted(sent)
    assert {a["id"]: a["counts"] for a in res["assemblies"]} == {a: {o: b["counts"][o] for o in options}
                                                                for a, b in sent.items()}
    assert all(a["members"] == 50 and a["name"].startswith("GA ") for a in res["assemblies"])
    assert res["records"] == 300 and res["assemblies_entitled"] == 120
    db.close()


def test_verify_round_rechecks_every_figure_the_running_sums_give(db_url):
    """Turnout, assemblies tied and assemblies reporting come from the running sums alone:
    verify-round re-adds them from the chain too (found by review: a drift of those passed)."""
    import copy

    from voting.audit import verify_export
    db = Database(db_url)
    db.open()
    st, now = VotingStore(), time.time()
    gas = db.write_sync(lambda c: [st.create_assembly(c, {"name": f"G{i}", "members": 30, "workplace": None}, now - 5)
                                   for i in range(3)])
    spec = check_round_spec({"title": "Q", "options": ["A", "B"], "duration_s": 600}, time.time())
    r = db.write_sync(lambda c: st.create_round(c, spec, time.time()))
    for g, counts in zip(gas, ({"A": 2, "B": 2}, {"A": 3, "B": 1}, {"A": 0, "B": 0})):
        db.write_sync(lambda c: st.add_tally(c, r["id"], g["id"], {"present": 5, "abstain": 0, "counts": counts},
                                             time.time()))
    db.write_sync(lambda c: st.close_round(c, r["id"], time.time()))
    export = db.read_sync(lambda c: st.export(c, r["id"]))
    assert verify_export(export)["ok"]
    for key, drift in (("assemblies_tied", 1), ("assemblies_reporting", 1), ("turnout", 0.01)):
        bad = copy.deepcopy(export)
        bad["result"][key] += drift
        report = verify_export(bad)
        assert not report["ok"] and any(e.startswith(key) for e in report["errors"]), (key, report)
    db.close()

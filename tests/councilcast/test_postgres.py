"""What the PostgreSQL store adds to the SQLite one (issue 15): several processes on one database,
the URL's password never shown, and ``councilcast db copy`` from a region's SQLite file.

Several processes are stood in for by several :class:`Database` objects on the same database,
each with its own writer connection, as each server process has.
"""

from __future__ import annotations

import threading
import time

import pytest

from councilcast.cli import main
from councilcast.storage import Database, schema_versions
from councilcast.stores import plan_variants
from councilcast.stores.dialect import redact
from councilcast.stores.voting import VotingStore
from tests.conftest import running_server
from voting.audit import verify_export
from voting.rules import check_round_spec
from voting.secrecy import BallotSecrets

KEY = bytes(range(32))


def _opened(url: str) -> Database:
    db = Database(url)
    db.open()
    return db


def test_redact_takes_the_password_out_and_leaves_a_path_alone():
    assert redact("postgresql://cc:pw@db:5432/x") == "postgresql://cc:***@db:5432/x"
    assert redact("postgres://cc@db/x?password=pw&sslmode=require") == "postgres://cc@db/x?password=***&sslmode=require"
    assert redact("/srv/councilcast.db") == "/srv/councilcast.db"


async def test_health_and_errors_never_show_the_password(pg_cluster, make_config, caplog):
    url = pg_cluster.new_database().split("?")[0].rsplit("/", 1)[1]
    url = pg_cluster.url(url, password="s3cret-pw", tcp=True)  # the cluster trusts 127.0.0.1: any password
    config = make_config(db=url)
    assert "s3cret-pw" not in config.db_display and "***" in config.db_display
    async with running_server(config) as srv:
        async with srv.session.get(srv.api("/api/health")) as r:
            text = await r.text()
            body = await r.json()
    assert "s3cret-pw" not in text
    assert body["database"]["engine"] == "postgresql" and body["database"]["url"] == redact(url)
    assert body["database"]["schema"]["voting"] >= 1
    bad = Database(f"postgresql://cc:s3cret-pw@127.0.0.1:{pg_cluster.port + 1}/nowhere")
    with pytest.raises(ConnectionError) as err:
        bad.open()
    bad.close()
    assert "s3cret-pw" not in str(err.value) and "cc:***@" in str(err.value)
    assert "s3cret-pw" not in caplog.text


def test_processes_starting_together_migrate_once(pg_cluster):
    url = pg_cluster.new_database()
    dbs, errors = [], []

    def start():
        try:
            dbs.append(_opened(url))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == [] and len(dbs) == 6
        versions = [db.read_sync(schema_versions) for db in dbs]
        assert all(v == versions[0] for v in versions) and versions[0]["voting"] >= 4
        counted = dbs[0].read_sync(lambda c: c.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0])
        assert counted == sum(versions[0].values())
    finally:
        for db in dbs:
            db.close()


def test_two_writers_append_to_one_audit_chain_without_a_gap(pg_cluster):
    """Counts for one round from two processes at once: every one accepted, one chain of
    consecutive records that verifies, because each batch locks the round's row."""
    url = pg_cluster.new_database()
    a, b = _opened(url), _opened(url)
    st = VotingStore()
    try:
        now = time.time()
        gas = a.write_sync(lambda c: [st.create_assembly(c, {"name": f"GA {i}", "members": 40, "workplace": None},
                                                         now - 5) for i in range(40)])
        spec = check_round_spec({"title": "Q", "options": ["yes", "no"], "duration_s": 600}, time.time())
        rnd = a.write_sync(lambda c: st.create_round(c, spec, time.time()))
        results: list = []

        def send(db, part):
            for ga in part:
                body = {"present": 30, "counts": {"yes": 20, "no": 10}}
                results.append(db.write_sync(lambda c, ga=ga: st.add_tallies(
                    c, [(rnd["id"], ga["id"], body), (rnd["id"], ga["id"], body)], time.time())))

        threads = [threading.Thread(target=send, args=(db, gas[i::2])) for i, db in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 40 and all(ok for batch in results for ok, _ in batch)
        closed = b.write_sync(lambda c: st.close_round(c, rnd["id"], time.time()))
        export = a.read_sync(lambda c: st.export(c, rnd["id"]))
        assert [r["seq"] for r in export["records"]] == list(range(1, 81))
        assert verify_export(export)["ok"] and closed["result"]["totals"] == {"yes": 800, "no": 400}
    finally:
        a.close()
        b.close()


def test_a_code_cast_by_two_writers_at_once_counts_once(pg_cluster):
    url = pg_cluster.new_database()
    a, b = _opened(url), _opened(url)
    st = VotingStore(BallotSecrets(KEY))
    try:
        ga = a.write_sync(lambda c: st.create_assembly(c, {"name": "GA", "members": 10, "workplace": None},
                                                       time.time() - 5))
        spec = check_round_spec({"title": "Q", "options": ["yes", "no"], "duration_s": 600}, time.time())
        rnd = a.write_sync(lambda c: st.create_round(c, spec, time.time()))
        codes = a.write_sync(lambda c: st.issue_codes(c, rnd["id"], ga["id"], 3, time.time()))
        out: list = []
        gate = threading.Barrier(2)

        def cast(db):
            gate.wait()
            out.extend(db.write_sync(lambda c: st.cast_ballots(c, [(code, "yes") for code in codes], time.time())))

        threads = [threading.Thread(target=cast, args=(db,)) for db in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(ok for ok, _ in out) == 3  # each code once, whichever writer got it first
        closed = a.write_sync(lambda c: st.close_round(c, rnd["id"], time.time()))
        assert closed["result"]["totals"] == {"yes": 3, "no": 0} and "anomalies" not in closed["result"]
    finally:
        a.close()
        b.close()


def test_two_writers_casting_into_the_same_boxes_in_opposite_orders_never_deadlock(pg_cluster):
    """Ballots of two processes' batches for the same ballot boxes, in opposite orders (and a
    code of each cast by both): before, each batch locked the boxes in arrival order, so two
    batches could each hold one box and wait for the other's; PostgreSQL broke the cycle after
    1 s and the loser's ballot was answered 500 (scripts/bench_federation.py found it)."""
    url = pg_cluster.new_database()
    a, b = _opened(url), _opened(url)
    st = VotingStore(BallotSecrets(KEY))
    try:
        gas = a.write_sync(lambda c: [st.create_assembly(c, {"name": f"GA {i}", "members": 400, "workplace": None},
                                                         time.time() - 5) for i in range(4)])
        spec = check_round_spec({"title": "Q", "options": ["yes", "no"], "duration_s": 600}, time.time())
        rnd = a.write_sync(lambda c: st.create_round(c, spec, time.time()))
        codes = {ga["id"]: a.write_sync(lambda c, ga=ga: st.issue_codes(c, rnd["id"], ga["id"], 120, time.time()))
                 for ga in gas}
        rounds = 24  # 5 codes of each box a round: 2 for a, 2 for b, 1 that both cast
        out: dict = {"a": [], "b": []}
        errors: list = []
        gate = threading.Barrier(2)

        def cast(db, name, order):
            mine = (0, 1) if name == "a" else (2, 3)
            try:
                for k in range(rounds):
                    batch = [(codes[ga["id"]][k * 5 + j], "yes") for ga in order for j in mine]
                    batch.insert(1, (codes[gas[0]["id"]][k * 5 + 4], "no"))  # cast by both writers
                    gate.wait()
                    out[name].extend(db.write_sync(lambda c, batch=batch: st.cast_ballots(c, batch, time.time())))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
                gate.abort()

        threads = [threading.Thread(target=cast, args=(a, "a", gas)),
                   threading.Thread(target=cast, args=(b, "b", gas[::-1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        failed = [repr(x) for ok, x in out["a"] + out["b"] if not ok]
        # the only refusals: the shared codes, each taken by one writer and refused to the other
        assert all("cannot be used" in f for f in failed), failed[:3]
        assert len(failed) == rounds
        closed = a.write_sync(lambda c: st.close_round(c, rnd["id"], time.time()))
        assert closed["result"]["totals"] == {"yes": 2 * 2 * 4 * rounds, "no": rounds}
        assert "anomalies" not in closed["result"]
    finally:
        a.close()
        b.close()


def _region(path) -> tuple[str, str]:
    """A SQLite region with assemblies, a published round, an open round, proposals: (round id, final hash)."""
    db = _opened(str(path))
    st = VotingStore(BallotSecrets(KEY))
    try:
        now = time.time()
        gas = db.write_sync(lambda c: [st.create_assembly(c, {"name": f"GA {i}", "members": 50, "workplace": None},
                                                          now - 5) for i in range(5)])
        spec = check_round_spec({"title": "Q", "options": ["A", "B"], "duration_s": 600}, time.time())
        rnd = db.write_sync(lambda c: st.create_round(c, spec, time.time()))
        for i, ga in enumerate(gas[:4]):
            db.write_sync(lambda c, ga=ga, i=i: st.add_tally(c, rnd["id"], ga["id"], {
                "present": 40, "counts": {"A": 20 + i, "B": 10}}, time.time()))
        db.write_sync(lambda c: st.issue_codes(c, rnd["id"], gas[4]["id"], 5, time.time()))
        closed = db.write_sync(lambda c: st.close_round(c, rnd["id"], time.time()))
        db.write_sync(lambda c: st.create_round(c, check_round_spec(
            {"title": "Later", "options": ["x", "y"], "duration_s": 60}, time.time()), time.time()))
        for n in range(3):
            db.write_sync(lambda c, n=n: plan_variants.insert_proposal(c, f"e-{n}", {"n": n}, "ga", float(n)))
        return rnd["id"], closed["final_hash"]
    finally:
        db.close()


def test_db_copy_moves_a_region_with_its_ids_and_audit_chain(pg_cluster, tmp_path, capsys):
    rid, final = _region(tmp_path / "region.db")
    url = pg_cluster.new_database()
    assert main(["db", "copy", "--from", str(tmp_path / "region.db"), "--to", url]) == 0
    out = capsys.readouterr().out
    assert "voting_records: 5 rows" in out and "1 of 1 published rounds verify on the target" in out
    assert main(["verify-round", rid, "--db", url]) == 0
    assert f"final hash {final}" in capsys.readouterr().out
    db = _opened(url)
    try:  # ids carried over, and new ones continue after them
        assert [p["id"] for p in db.read_sync(plan_variants.open_proposals)] == ["1", "2", "3"]
        assert db.write_sync(lambda c: plan_variants.insert_proposal(c, "e-9", {}, "ga", 9.0))["id"] == "4"
    finally:
        db.close()
    # a target that holds rows is refused, unless --replace
    assert main(["db", "copy", "--from", str(tmp_path / "region.db"), "--to", url]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["db", "copy", "--from", str(tmp_path / "region.db"), "--to", url, "--replace"]) == 0
    db = _opened(url)
    try:
        assert db.read_sync(plan_variants.count_proposals) == 3
    finally:
        db.close()


def test_processes_starting_together_register_the_configured_tokens_once(pg_cluster):
    """Several ``serve`` processes started at once on one database, each with the same
    configured tokens: before, two could both find the token new and both insert it (a
    unique-key error stopped one of them, about one start in ten)."""
    from councilcast.auth import Auth, hash_token

    url = pg_cluster.new_database()
    dbs = [_opened(url) for _ in range(6)]
    try:
        barrier = threading.Barrier(len(dbs))
        errors: list = []

        def start(db):
            barrier.wait()
            try:
                auth = Auth(db)
                for role, token in (("secretariat", "S" * 43), ("studio", "T" * 43)):
                    assert auth.ensure_role_token(role, token) is None
            except Exception as exc:  # noqa: BLE001 - the test reports whatever stopped a start
                errors.append(repr(exc))

        threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        rows = dbs[0].read_sync(lambda c: c.execute(
            "SELECT role, token_hash FROM tokens WHERE revoked_at IS NULL ORDER BY role").fetchall())
        assert [(r[0], r[1]) for r in rows] == [("secretariat", hash_token("S" * 43)), ("studio", hash_token("T" * 43))]
    finally:
        for db in dbs:
            db.close()

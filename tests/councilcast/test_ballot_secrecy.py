"""The secret ballot against a copy of the database files, guessing, and poisoned batches (issue 10).

Each test replays an attack through the real server on loopback, with a real SQLite file.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from councilcast.services.voting import BallotGuard
from councilcast.stores.voting import VotingStore
from voting.secrecy import BallotSecrets
from tests.voting.helpers import bearer, new_round, register


def copy_db(db: Path, dest: Path) -> Path:
    """What an attacker holding the files takes: the database, its -wal and its -shm, as they are."""
    dest.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(db) + suffix)
        if src.exists():
            shutil.copyfile(src, dest / (db.name + suffix))
    return dest / db.name


def visible(copy: Path) -> dict[str, list[tuple]]:
    """Every row of every ballot table, as the copy shows it (the WAL replayed by SQLite)."""
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
                for t in ("voting_codes", "voting_sealed_ballots", "voting_ballot_boxes")}
    finally:
        conn.close()


async def _issue(server, members=10, n=8):
    g = await register(server, "Secret GA", members)
    r = await new_round(server, options=("A", "B"), duration_s=600)
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/ballot-codes"), headers=bearer(g["token"]),
                                   json={"count": n}) as resp:
        assert resp.status == 201
        codes = [c["code"] for c in (await resp.json())["codes"]]
    return g, r, codes


async def test_copies_taken_after_every_ballot_do_not_tell_choices(server, tmp_path):
    """Attack 1: copies of the files after each commit linked 8 of 8 ballots to their choice.

    Now what changes between two copies is the same whether the ballot said A or B: one code
    flips to used, one sealed ballot of the same length appears, the box's count moves by one.
    No table keeps an order of printing or use (rowids), no code is stored (nor its SHA-256),
    and after the close nothing per ballot remains in the file or the WAL."""
    g, r, codes = await _issue(server)
    db = Path(server.config.db)
    choices = ["A", "B", "B", "A", "abstain", "A", "B", "A"]
    snapshots = [visible(copy_db(db, tmp_path / "c0"))]
    for i, (code, choice) in enumerate(zip(codes, choices), start=1):
        async with server.session.post(server.api("/api/ballots"), json={"code": code, "choice": choice}) as resp:
            assert resp.status == 201
        snapshots.append(visible(copy_db(db, tmp_path / f"c{i}")))

    def change(before, after) -> tuple:
        """The shape of what one ballot changed: which tables, how many rows, which lengths."""
        new_sealed = set(after["voting_sealed_ballots"]) - set(before["voting_sealed_ballots"])
        flipped = [row for row in after["voting_codes"] if row[3] == 1 and row not in before["voting_codes"]]
        box_b, box_a = before["voting_ballot_boxes"][0], after["voting_ballot_boxes"][0]
        return (len(new_sealed), frozenset(len(row[3]) for row in new_sealed), len(flipped), box_a[3] - box_b[3])

    shapes = {change(a, b) for a, b in zip(snapshots, snapshots[1:])}
    assert shapes == {(1, frozenset({30}), 1, 1)}  # the same for every choice: nothing in the copies depends on it
    last = snapshots[-1]
    blob = db.read_bytes() + Path(str(db) + "-wal").read_bytes()
    for code in codes:  # neither the codes nor their unsalted SHA-256 are in the files
        assert code.encode() not in blob
        assert hashlib.sha256(code.encode()).hexdigest().encode() not in blob
    for choice in ("A", "B"):  # the sealed ballots hold no plaintext index or label
        assert all(row[3] != choice.encode() for row in last["voting_sealed_ballots"])
    # no rowid: the tables are WITHOUT ROWID, so no order of printing or casting is stored
    conn = sqlite3.connect(db)
    for table in ("voting_codes", "voting_sealed_ballots", "voting_ballot_boxes"):
        with pytest.raises(sqlite3.OperationalError):
            conn.execute(f"SELECT rowid FROM {table}")
    conn.close()

    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as resp:
        res = (await resp.json())["result"]
    assert res["assemblies"][0]["counts"] == {"A": 4, "B": 3} and res["assemblies"][0]["abstain"] == 1
    assert "anomalies" not in res
    after = visible(copy_db(db, tmp_path / "after"))
    assert after["voting_sealed_ballots"] == [] and after["voting_codes"] == []
    assert Path(str(db) + "-wal").stat().st_size == 0  # the WAL was truncated at the checkpoint
    data = db.read_bytes()
    for row in last["voting_sealed_ballots"]:  # secure_delete: the sealed ballots are not in free pages
        assert row[3] not in data


async def test_unknown_and_used_codes_answer_alike_and_guessing_is_limited(server):
    """Attack 2: 404 against 409 told which codes exist, and guesses had no limit."""
    _g, _r, codes = await _issue(server)
    s = server.session
    async with s.post(server.api("/api/ballots"), json={"code": codes[0], "choice": "A"}) as resp:
        assert resp.status == 201
    answers = []
    for code in (codes[0], "NOTACODE22"):
        async with s.post(server.api("/api/ballots"), json={"code": code, "choice": "A"}) as resp:
            answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1] and answers[0][0] == 409
    statuses = []
    for i in range(BallotGuard.BURST + 5):
        async with s.post(server.api("/api/ballots"), json={"code": f"GUESS{i:05d}", "choice": "A"}) as resp:
            statuses.append(resp.status)
    assert 429 in statuses and statuses.index(429) <= BallotGuard.BURST
    async with s.post(server.api("/api/ballots"), json={"code": codes[1], "choice": "A"}) as resp:
        assert resp.status == 429 and "Retry-After" in resp.headers  # this address waits, whatever the code


def test_a_room_behind_one_address_is_not_locked_out_by_a_guesser_elsewhere():
    now = [0.0]
    guard = BallotGuard(clock=lambda: now[0])
    for i in range(BallotGuard.BURST):
        guard.admit("198.51.100.7")
        guard.failed("198.51.100.7")
    with pytest.raises(Exception) as e:
        guard.admit("198.51.100.7")
    assert e.value.status == 429
    guard.admit("192.0.2.1")  # the room's address, which has not been failing, is still admitted
    now[0] += 60  # a minute later the guesser has PER_MINUTE tries again
    guard.admit("198.51.100.7")
    # a guesser spread over many addresses tightens every bucket, not only theirs
    for k in range(BallotGuard.GLOBAL_PER_MINUTE + 1):
        guard.failed(f"203.0.113.{k % 250}/{k}")
    for _ in range(BallotGuard.TIGHT_BURST):
        guard.failed("192.0.2.9")
    with pytest.raises(Exception):
        guard.admit("192.0.2.9")


async def test_a_poisoned_request_does_not_fail_the_ballots_batched_with_it(server):
    """Attack 3: five requests with a lone surrogate failed 30 of 30 valid ballots sent alongside."""
    g, r, codes = await _issue(server, members=40, n=30)
    s = server.session

    async def cast(code, choice="A"):
        async with s.post(server.api("/api/ballots"), json={"code": code, "choice": choice}) as resp:
            return resp.status, await resp.json()

    poison = [s.post(server.api("/api/ballots"), data=b'{"code":"\\ud800","choice":"A"}',
                     headers={"Content-Type": "application/json"}) for _ in range(5)]
    results = await asyncio.gather(*[cast(c) for c in codes], *[p.__aenter__() for p in poison])
    assert [st for st, _ in results[:30]] == [201] * 30
    for resp in results[30:]:
        assert resp.status == 400 and (await resp.json())["error"]["field"] == "code"
        resp.release()
    async with s.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as resp:
        assert (await resp.json())["result"]["assemblies"][0]["counts"]["A"] == 30


def test_whatever_one_ballot_raises_in_the_batch_is_its_own_answer(tmp_path):
    """The store, below the door: a ballot whose code cannot be encoded (UnicodeEncodeError, not a
    VotingError) fails alone, under its own SAVEPOINT; the others of the batch commit."""
    from councilcast.storage import Database

    db = Database(tmp_path / "v.db")
    db.open()
    try:
        st = VotingStore(BallotSecrets(b"k" * 32))
        a = db.write_sync(lambda c: st.create_assembly(c, {"name": "G", "members": 5, "workplace": None}, 0.0))
        r = db.write_sync(lambda c: st.create_round(c, {"title": "Q", "options": ["A", "B"], "scope": None,
                                                         "opens_at": 0.0, "closes_at": 1e10, "duration_s": 1e10},
                                                    0.0))
        codes = db.write_sync(lambda c: st.issue_codes(c, r["id"], a["id"], 2, 1.0))
        out = db.write_sync(lambda c: st.cast_ballots(c, [(codes[0], "A"), ("\ud800", "A"), (codes[1], "B")], 2.0))
        assert [ok for ok, _ in out] == [True, False, True]
        assert isinstance(out[1][1], UnicodeEncodeError)
        assert db.read_sync(lambda c: c.execute("SELECT used FROM voting_ballot_boxes").fetchone()[0]) == 2
    finally:
        db.close()


@pytest.mark.parametrize("tamper,expect", [
    ("UPDATE voting_ballot_boxes SET used = used + 100", "accepted"),
    ("DELETE FROM voting_sealed_ballots WHERE id = (SELECT MIN(id) FROM voting_sealed_ballots)", "accepted"),
    ("UPDATE voting_sealed_ballots SET sealed = zeroblob(30) WHERE id = (SELECT MIN(id) FROM voting_sealed_ballots)",
     "does not open"),
    ("UPDATE voting_ballot_boxes SET issued = 1000", "impossible"),
])
async def test_a_ballot_box_edited_before_the_close_is_flagged(server, tamper, expect):
    """Attack 4: `UPDATE ... SET n=n+100` before the close published 'A 101 ... present 103 of 10
    registered' and verify-round said OK. Now the close opens and checks every box: the sealed
    ballots against the accepted count, its commitment, the used codes, the codes issued and the
    members; an impossible box counts nothing, and the result says what was found."""
    g, r, codes = await _issue(server)
    for code in codes[:3]:
        async with server.session.post(server.api("/api/ballots"), json={"code": code, "choice": "A"}) as resp:
            assert resp.status == 201
    conn = sqlite3.connect(server.config.db)
    conn.execute(tamper)
    conn.commit()
    conn.close()
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as resp:
        res = (await resp.json())["result"]
    assert any(expect in a for a in res["anomalies"]), res["anomalies"]
    a = res["assemblies"][0]
    assert a["present"] <= 3 and a["present"] <= a["members"]  # never the impossible numbers

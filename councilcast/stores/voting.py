"""The voting area's SQL (SQLite): functions over one DB-API connection, run inside a transaction.

The application runs each write function through its single writer (group commit,
:meth:`councilcast.storage.Database.write`), so every function here sees a consistent
database and either all of its changes commit or none do. A PostgreSQL store is another
implementation of the same methods. The rules are :mod:`voting`'s (pure); this module
only reads and writes rows, and carries out what :mod:`voting.consequences` decides.

The same functions run on SQLite and PostgreSQL (:mod:`councilcast.stores.dialect`); the
statement only one engine has (a published round's breakdown in JSON) has its twin in
:data:`_BREAKDOWN`. With several processes on one PostgreSQL database, what a transaction reads
to change is locked: a round's row before its audit chain grows or it closes (``FOR UPDATE``),
shared by the ballots cast in it (``FOR SHARE``: they wait for a close, not for each other),
a code and its ballot box before they are marked and added to, a delegate's row before a
recall round opens against them, an election's before a nomination.

Hand-written SQL throughout, on purpose: the batched count path (:meth:`VotingStore.add_tallies`)
and the close (:meth:`VotingStore.close_round`, which reads the running sums that every appended
record updates: ``voting_standing`` and ``voting_sums``) are the hot paths measured in
docs/voting.md, and the other statements are one line each.

Times are POSIX seconds taken from the caller (``now``): the server clock is the only
authority on open and close, and the tally check happens in the same transaction that
records the tally, so a count can never slip in after the close.

The schema is :data:`MIGRATIONS` (append-only: never edit a step that has shipped).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import orjson

from councilcast.stores.dialect import for_update, insert_rows, lock_row
from voting.audit import FORMAT, anchor_hash, definition, genesis_hash, record_hash
from voting.consequences import (election_outcome, election_round_spec, recall_outcome, runoff_spec,
                                 successor_election)
from voting.result import RunningSums, decide, recall_rule
from voting.rounds import new_code, new_id, round_state
from voting.secrecy import BallotSecrets, accumulate
from voting.rules import (ABSTAIN, MAX_OPTIONS, NOMINATION_DEFAULT_S, VotingError, check_int, check_tally, iso)

__all__ = ["VotingStore", "AREA", "MIGRATIONS"]

AREA = "voting"
log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE voting_assemblies (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        workplace TEXT,
        members INTEGER NOT NULL CHECK (members > 0),
        created_at REAL NOT NULL
    );
    CREATE TABLE voting_rounds (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        options TEXT NOT NULL,            -- JSON list
        kind TEXT NOT NULL DEFAULT 'decision',  -- decision, runoff, recall
        subject TEXT,                     -- runoff: parent round; recall: delegate id
        scope TEXT,                       -- JSON list of assembly ids, NULL = every assembly
        opens_at REAL NOT NULL,
        closes_at REAL NOT NULL,
        duration_s REAL NOT NULL,
        closed_at REAL,                   -- set when the round closed (scheduled or early)
        genesis TEXT NOT NULL,            -- hash of the definition, prev of the first record
        result TEXT,                      -- JSON, written in the same transaction as the close
        final_hash TEXT,
        published_at REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX voting_rounds_open ON voting_rounds(closed_at, opens_at);
    -- The audit chain: one row per accepted count (recounts append a new version).
    CREATE TABLE voting_records (
        round_id TEXT NOT NULL REFERENCES voting_rounds(id),
        seq INTEGER NOT NULL,
        assembly_id TEXT NOT NULL REFERENCES voting_assemblies(id),
        version INTEGER NOT NULL,
        present INTEGER NOT NULL,
        abstain INTEGER NOT NULL,
        counts TEXT NOT NULL,             -- JSON {option: votes}, every option
        source TEXT NOT NULL,             -- clerk or ballots
        received_at REAL NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        PRIMARY KEY (round_id, seq)
    );
    CREATE INDEX voting_records_assembly ON voting_records(round_id, assembly_id, version);
    -- One-time ballot codes. Which code was used is recorded, never the choice made with it.
    CREATE TABLE voting_ballot_codes (
        code_hash TEXT PRIMARY KEY,
        round_id TEXT NOT NULL REFERENCES voting_rounds(id),
        assembly_id TEXT NOT NULL REFERENCES voting_assemblies(id),
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX voting_ballot_codes_round ON voting_ballot_codes(round_id, assembly_id);
    -- Ballots are only ever added to a counter: no row per ballot, so no order or time
    -- links a code to a choice.
    CREATE TABLE voting_ballot_counts (
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        choice TEXT NOT NULL,             -- an option or 'abstain'
        n INTEGER NOT NULL,
        PRIMARY KEY (round_id, assembly_id, choice)
    ) WITHOUT ROWID;
    CREATE TABLE voting_delegates (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        assemblies TEXT NOT NULL,         -- JSON list: the constituency
        status TEXT NOT NULL DEFAULT 'active',  -- active, recalled
        elected_at REAL NOT NULL,
        recalled_at REAL,
        recall_round TEXT
    );
    CREATE TABLE voting_rollcalls (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        options TEXT NOT NULL,
        round_id TEXT,                    -- the GA round on the same question, if any
        opened_at REAL NOT NULL,
        closed_at REAL
    );
    CREATE TABLE voting_rollcall_votes (
        rollcall_id TEXT NOT NULL REFERENCES voting_rollcalls(id),
        delegate_id TEXT NOT NULL REFERENCES voting_delegates(id),
        choice TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (rollcall_id, delegate_id)
    );
    """,
    # 2: the secret ballot against a copy of the database (docs/voting.md, "The secret ballot").
    # Codes are kept as keyed tags and choices only sealed; no table keeps a rowid order that
    # follows the printing or the use of codes (WITHOUT ROWID, keyed by random or keyed values).
    # Rounds still open when this step runs lose their per-member ballots: upgrade between rounds.
    """
    DROP TABLE voting_ballot_counts;
    DROP TABLE voting_ballot_codes;
    CREATE TABLE voting_codes (
        tag TEXT PRIMARY KEY,             -- HMAC of the code under a key outside the database
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE voting_sealed_ballots (
        id BLOB PRIMARY KEY,              -- random: the table's order is no order of casting
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        sealed BLOB NOT NULL              -- AES-256-GCM of the choice, opened only at the close
    ) WITHOUT ROWID;
    CREATE TABLE voting_ballot_boxes (
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        issued INTEGER NOT NULL,          -- codes issued
        used INTEGER NOT NULL DEFAULT 0,  -- ballots accepted
        accumulator TEXT NOT NULL DEFAULT '0',  -- sum of the sealed ballots' commitments mod 2**256, hex
        PRIMARY KEY (round_id, assembly_id)
    ) WITHOUT ROWID;
    """,
    # 3: anchors of each round's chain, published on a fixed tick while it is open (docs/voting.md)
    """
    CREATE TABLE voting_anchors (
        round_id TEXT NOT NULL,
        at REAL NOT NULL,
        seq INTEGER NOT NULL,
        head TEXT NOT NULL,
        boxes TEXT NOT NULL,              -- JSON [[assembly, ballots accepted, accumulator]]
        anchor TEXT NOT NULL,
        PRIMARY KEY (round_id, at)
    ) WITHOUT ROWID;
    """,
    # 4: the recall's turnout quorum, who asked for a recall, and the successor's election (issue 12)
    """
    ALTER TABLE voting_rounds ADD COLUMN quorum REAL;  -- recall: the turnout quorum in force at its opening
    CREATE TABLE voting_recalls (
        round_id TEXT PRIMARY KEY,        -- a round of kind 'recall'
        delegate_id TEXT NOT NULL,
        nomination_s REAL NOT NULL,       -- should it pass: the successor's nomination window
        election_duration_s REAL NOT NULL -- and the length of the election round
    );
    CREATE TABLE voting_recall_requests (
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        action TEXT NOT NULL,             -- opened, joined, brought_forward
        at REAL NOT NULL,
        PRIMARY KEY (round_id, assembly_id, action)
    );
    CREATE TABLE voting_elections (
        id TEXT PRIMARY KEY,
        recalled TEXT NOT NULL,           -- the delegate whose recall opened it
        recall_round TEXT NOT NULL,
        scope TEXT NOT NULL,              -- JSON list: the constituency
        nomination_s REAL NOT NULL,
        duration_s REAL NOT NULL,
        nominations_close REAL NOT NULL,  -- the end of the (latest) nomination window
        state TEXT NOT NULL,              -- nominating, voting, decided
        round_id TEXT,                    -- while voting: the election round, or its runoff
        rounds TEXT NOT NULL DEFAULT '[]',-- JSON list: every round of the election, in order
        successor TEXT,                   -- the delegate elected
        note TEXT,                        -- why nominations are open again
        created_at REAL NOT NULL,
        decided_at REAL
    );
    CREATE INDEX voting_elections_recalled ON voting_elections(recalled, created_at);
    CREATE INDEX voting_elections_round ON voting_elections(round_id);
    CREATE INDEX voting_elections_successor ON voting_elections(successor);
    CREATE TABLE voting_election_candidates (
        election_id TEXT NOT NULL,
        name TEXT NOT NULL,
        assembly_id TEXT NOT NULL,        -- the constituency assembly whose clerk put them forward
        at REAL NOT NULL,
        PRIMARY KEY (election_id, name)
    );
    """,
    # 5: each assembly's standing count and each round's running sums, kept as counts arrive, so
    # that a close reads its sums instead of adding up every record (issue 15; docs/voting.md)
    """
    CREATE TABLE voting_standing (
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        seq INTEGER NOT NULL,             -- the standing record of the audit chain
        version INTEGER NOT NULL,
        present INTEGER NOT NULL,
        abstain INTEGER NOT NULL,
        counts TEXT NOT NULL,
        source TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (round_id, assembly_id)
    ) WITHOUT ROWID;
    INSERT INTO voting_standing(round_id, assembly_id, seq, version, present, abstain, counts, source, hash)
        SELECT v.round_id, v.assembly_id, v.seq, v.version, v.present, v.abstain, v.counts, v.source, v.hash
        FROM voting_records v JOIN (SELECT round_id, assembly_id, MAX(version) AS mv FROM voting_records
        GROUP BY round_id, assembly_id) l ON v.round_id = l.round_id AND v.assembly_id = l.assembly_id
        AND v.version = l.mv;
    CREATE TABLE voting_sums (
        round_id TEXT PRIMARY KEY,
        head_seq INTEGER NOT NULL,        -- the chain's head, its last record (0: none yet)
        head_hash TEXT NOT NULL,
        sums TEXT NOT NULL                -- JSON, voting.result.RunningSums.as_dict()
    ) WITHOUT ROWID;
    """,
]


# A published round's per-assembly breakdown, read from its standing counts: one JSON array
# sorted by assembly, in each engine's JSON functions (the result stored at the close has the
# sums only, so that the close does not write 10^4-10^5 rows of it inside its transaction).
_BREAKDOWN = {
    "sqlite": "SELECT json_group_array(json_object('id', st.assembly_id, 'version', st.version, "
              "'present', st.present, 'abstain', st.abstain, 'counts', json(st.counts), 'source', st.source, "
              "'hash', st.hash, 'name', ga.name, 'members', ga.members)) FROM (SELECT * FROM voting_standing "
              "WHERE round_id = ? ORDER BY assembly_id) st LEFT JOIN voting_assemblies ga ON ga.id = st.assembly_id",
    "postgresql": "SELECT COALESCE(CAST(json_agg(json_build_object('id', st.assembly_id, 'version', st.version, "
                  "'present', st.present, 'abstain', st.abstain, 'counts', CAST(st.counts AS json), "
                  "'source', st.source, 'hash', st.hash, 'name', ga.name, 'members', ga.members) "
                  "ORDER BY st.assembly_id) AS text), '[]') FROM voting_standing st "
                  "LEFT JOIN voting_assemblies ga ON ga.id = st.assembly_id WHERE st.round_id = ?",
}


# Columns of the rows that a batch of counts inserts, with their PostgreSQL types (insert_rows).
_RECORD_COLUMNS = [("round_id", "text"), ("seq", "bigint"), ("assembly_id", "text"), ("version", "bigint"),
                   ("present", "bigint"), ("abstain", "bigint"), ("counts", "text"), ("source", "text"),
                   ("received_at", "float8"), ("prev", "text"), ("hash", "text")]
_STANDING_COLUMNS = [("round_id", "text"), ("assembly_id", "text"), ("seq", "bigint"), ("version", "bigint"),
                     ("present", "bigint"), ("abstain", "bigint"), ("counts", "text"), ("source", "text"),
                     ("hash", "text")]

# The standing counts of a batch's assemblies in one round (``:r``; ``:a`` the assembly ids). Not
# ``assembly_id IN (...)`` on PostgreSQL: it plans such a list from the table's statistics, and a
# table that has just grown from nothing (a federation's first round, 60,000 counts in a minute,
# before autovacuum's ANALYZE) is planned as nearly empty, a scan of the round's rows for every
# batch, which made the count path quadratic (docs/voting.md, "Federation: measured"); the
# LATERAL probe with LIMIT 1 stays a nested loop of primary-key lookups whatever the statistics.
_STANDING = {
    "sqlite": "SELECT assembly_id, version, present, abstain, counts FROM voting_standing "
              "WHERE round_id = :r AND assembly_id IN (SELECT value FROM json_each(:a))",
    "postgresql": "SELECT k.a, s.version, s.present, s.abstain, s.counts FROM unnest(CAST(:a AS text[])) AS k(a) "
                  "CROSS JOIN LATERAL (SELECT version, present, abstain, counts FROM voting_standing "
                  "WHERE round_id = :r AND assembly_id = k.a LIMIT 1) s",
}


def _round_row(row) -> dict:
    d = dict(row)
    d["options"] = json.loads(d["options"])
    d["scope"] = json.loads(d["scope"]) if d["scope"] else None
    d["result"] = orjson.loads(d["result"]) if d["result"] else None
    return d


class VotingStore:
    """The voting tables over a DB-API connection (SQLite dialect).

    ``secrets`` (:class:`voting.secrecy.BallotSecrets`, from the key file outside the
    database) tags ballot codes and seals choices; without it the store can do everything
    but issue codes and take or open ballots.
    """

    def __init__(self, secrets: BallotSecrets | None = None):
        self.secrets = secrets

    def _secrets(self) -> BallotSecrets:
        if self.secrets is None:
            raise RuntimeError("this store has no ballot key: members' ballots need one")
        return self.secrets

    # -- assemblies -------------------------------------------------------------------
    def create_assembly(self, conn, spec: dict, now: float) -> dict:
        aid = new_id("ga")
        conn.execute("INSERT INTO voting_assemblies(id, name, workplace, members, created_at) VALUES (?,?,?,?,?)",
                     (aid, spec["name"], spec["workplace"], spec["members"], now))
        return {"id": aid, **spec, "created_at": iso(now)}

    def get_assembly(self, conn, aid: str) -> dict | None:
        row = conn.execute("SELECT id, name, workplace, members, created_at FROM voting_assemblies WHERE id=?",
                           (aid,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["created_at"] = iso(d["created_at"])
        return d

    def find_assembly(self, conn, name: str) -> dict | None:
        """The first assembly registered under ``name`` (the demo finds its own again after a restart)."""
        row = conn.execute("SELECT id FROM voting_assemblies WHERE name=? ORDER BY created_at, id LIMIT 1",
                           (name,)).fetchone()
        return None if row is None else self.get_assembly(conn, row[0])

    def list_assemblies(self, conn, limit: int = 1000, offset: int = 0) -> list[dict]:
        rows = conn.execute("SELECT id, name, workplace, members, created_at FROM voting_assemblies "
                            "ORDER BY created_at, id LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [{**dict(r), "created_at": iso(r["created_at"])} for r in rows]

    def count_assemblies(self, conn) -> tuple[int, int]:
        row = conn.execute("SELECT COUNT(*), COALESCE(SUM(members), 0) FROM voting_assemblies").fetchone()
        return row[0], row[1]

    # -- rounds -----------------------------------------------------------------------
    def create_round(self, conn, spec: dict, now: float, kind: str = "decision", subject: str | None = None,
                     quorum: float | None = None) -> dict:
        if spec["scope"] is not None:
            known = {r[0] for r in conn.execute(
                f"SELECT id FROM voting_assemblies WHERE id IN ({','.join('?' * len(spec['scope']))})",
                spec["scope"])}
            missing = [a for a in spec["scope"] if a not in known]
            if missing:
                raise VotingError("assemblies", f"unknown assembly {missing[0]}")
        rid = new_id("r")
        genesis = genesis_hash(definition(rid, spec["title"], spec["options"], spec["scope"], kind, quorum))
        conn.execute(
            "INSERT INTO voting_rounds(id, title, options, kind, subject, scope, opens_at, closes_at, duration_s,"
            " genesis, created_at, quorum) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rid, spec["title"], json.dumps(spec["options"]), kind, subject,
             json.dumps(spec["scope"]) if spec["scope"] is not None else None,
             spec["opens_at"], spec["closes_at"], spec["duration_s"], genesis, now, quorum))
        conn.execute("INSERT INTO voting_sums(round_id, head_seq, head_hash, sums) VALUES (?,?,?,?)",
                     (rid, 0, genesis, json.dumps(RunningSums(spec["options"]).as_dict())))
        return self.get_round(conn, rid)

    def get_round(self, conn, rid: str, breakdown: bool = True) -> dict | None:
        """A round; once published, its result with the per-assembly breakdown (``breakdown``:
        False leaves it out, for whoever needs only the sums)."""
        row = conn.execute("SELECT * FROM voting_rounds WHERE id=?", (rid,)).fetchone()
        if row is None:
            return None
        r = _round_row(row)
        if breakdown:
            self._with_breakdown(conn, r)
        return r

    def list_rounds(self, conn, limit: int = 200, breakdown: bool = True) -> list[dict]:
        rows = conn.execute("SELECT * FROM voting_rounds ORDER BY opens_at DESC, id LIMIT ?", (limit,)).fetchall()
        rounds = [_round_row(r) for r in rows]
        return [self._with_breakdown(conn, r) for r in rounds] if breakdown else rounds

    def breakdown_json(self, conn, rid: str) -> bytes:
        """A published round's per-assembly breakdown as the database writes it: JSON text
        (a list sorted by assembly id; what :meth:`_with_breakdown` decodes)."""
        return conn.execute(_BREAKDOWN[conn.dialect], (rid,)).fetchone()[0].encode()

    def breakdown_rows(self, conn, rid: str, offset: int, limit: int,
                       find: str | None = None) -> tuple[list[dict], int]:
        """``limit`` rows of a published round's breakdown from ``offset`` (sorted by assembly id,
        as in :meth:`breakdown_json`), and how many rows there are; with ``find``, only the
        assembly of that id and those whose name contains it (any case; SQLite folds ASCII
        letters only)."""
        where, params = "st.round_id = ?", [rid]
        if find:
            pattern = "%" + find.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where += " AND (st.assembly_id = ? OR lower(ga.name) LIKE ? ESCAPE '\\')"
            params += [find, pattern]
        joined = f"FROM voting_standing st LEFT JOIN voting_assemblies ga ON ga.id = st.assembly_id WHERE {where}"
        total = conn.execute(f"SELECT count(*) {joined}", params).fetchone()[0]
        rows = conn.execute(f"SELECT st.assembly_id, st.version, st.present, st.abstain, st.counts, st.source, "
                            f"st.hash, ga.name, ga.members {joined} ORDER BY st.assembly_id LIMIT ? OFFSET ?",
                            [*params, limit, offset]).fetchall()
        return [{"id": aid, "version": version, "present": present, "abstain": abstain,
                 "counts": orjson.loads(counts), "source": source, "hash": h, "name": name, "members": members}
                for aid, version, present, abstain, counts, source, h, name, members in rows], total

    def _with_breakdown(self, conn, r: dict) -> dict:
        """``r`` with its result's ``assemblies`` (sorted by id) read from the standing counts, which
        no longer change once the round is closed; a result published before the standing table
        (schema step 5) carries its own."""
        res = r.get("result")
        if res is not None and "assemblies" not in res:
            res["assemblies"] = orjson.loads(self.breakdown_json(conn, r["id"]))
        return r

    def pending_rounds(self, conn) -> list[dict]:
        """Rounds not yet closed and published (for the scheduler, at start and on change)."""
        rows = conn.execute("SELECT * FROM voting_rounds WHERE published_at IS NULL").fetchall()
        return [_round_row(r) for r in rows]

    def _require_open(self, r: dict | None, now: float) -> dict:
        if r is None:
            raise VotingError("round", "no such round", "not_found")
        state = round_state(r, now)
        if state == "scheduled":
            raise VotingError("round", f"the round opens at {iso(r['opens_at'])} (server time)", "conflict")
        if state != "open":
            raise VotingError("round", "the round is closed", "conflict")
        return r

    def _in_scope(self, r: dict, aid: str) -> None:
        if r["scope"] is not None and aid not in r["scope"]:
            raise VotingError("round", "this assembly does not vote in this round", "forbidden")

    # -- counts and the audit chain -------------------------------------------------------
    # Every record appended to a round's chain also replaces its assembly's row of
    # ``voting_standing`` and moves the round's ``voting_sums`` (its chain head and
    # :class:`voting.result.RunningSums`), in the same transaction and under the round's lock:
    # the close reads those sums, whatever the number of records.
    def _sums(self, conn, r: dict) -> tuple[int, str, RunningSums]:
        """Round ``r``'s chain head and running sums (the caller holds the round's lock). A round
        opened before schema step 5 has no sums row: they are added up once from its standing
        counts and kept. Sums whose head is not the chain's (a server of the code before step 5,
        still running beside this one on the same PostgreSQL database, appended records without
        them) are made again from the chain, standing counts included: one index probe per
        round and batch keeps the sums from ever being read stale."""
        row = conn.execute("SELECT head_seq, head_hash, sums FROM voting_sums WHERE round_id=?", (r["id"],)).fetchone()
        head = conn.execute("SELECT seq, hash FROM voting_records WHERE round_id=? ORDER BY seq DESC LIMIT 1",
                            (r["id"],)).fetchone()
        if row is not None and (row[0], row[1]) == ((head[0], head[1]) if head else (0, r["genesis"])):
            return row[0], row[1], RunningSums(r["options"], json.loads(row[2]))
        if row is not None:  # the chain grew without its sums: a process of the code before step 5 wrote to it
            log.warning("round %s: its running sums lag its audit chain (a server older than the sums wrote to it); "
                        "added up again from the chain", r["id"])
            self._restand(conn, r["id"])
            conn.execute("DELETE FROM voting_sums WHERE round_id=?", (r["id"],))
        sums = RunningSums(r["options"])
        for present, abstain, counts in conn.execute(
                "SELECT present, abstain, counts FROM voting_standing WHERE round_id=?", (r["id"],)):
            sums.replace(None, {"present": present, "abstain": abstain, "counts": json.loads(counts)})
        seq, prev = (head[0], head[1]) if head else (0, r["genesis"])
        conn.execute("INSERT INTO voting_sums(round_id, head_seq, head_hash, sums) VALUES (?,?,?,?)",
                     (r["id"], seq, prev, json.dumps(sums.as_dict())))
        return seq, prev, sums

    def _restand(self, conn, rid: str) -> None:
        """Round ``rid``'s standing counts made again from its chain (each assembly's last version),
        as schema step 5 first made them."""
        conn.execute("DELETE FROM voting_standing WHERE round_id=?", (rid,))
        conn.execute(
            "INSERT INTO voting_standing(round_id, assembly_id, seq, version, present, abstain, counts, source, hash) "
            "SELECT v.round_id, v.assembly_id, v.seq, v.version, v.present, v.abstain, v.counts, v.source, v.hash "
            "FROM voting_records v JOIN (SELECT assembly_id, MAX(version) AS mv FROM voting_records WHERE round_id=? "
            "GROUP BY assembly_id) l ON v.assembly_id = l.assembly_id AND v.version = l.mv WHERE v.round_id=?",
            (rid, rid))

    def _standing(self, conn, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The standing count of each ``(round, assembly)`` that has one: ``{"version", "present",
        "abstain", "counts"}``, one statement per round (:data:`_STANDING`)."""
        by_round: dict[str, list[str]] = {}
        for rid, aid in keys:
            by_round.setdefault(rid, []).append(aid)
        out = {}
        for rid, aids in sorted(by_round.items()):
            listed = aids if conn.dialect == "postgresql" else json.dumps(aids)
            for aid, version, present, abstain, counts in conn.execute(_STANDING[conn.dialect],
                                                                       {"r": rid, "a": listed}):
                out[(rid, aid)] = {"version": version, "present": present, "abstain": abstain,
                                   "counts": json.loads(counts)}
        return out

    def _write_records(self, conn, recs: list[dict], heads: dict[str, tuple[int, str, RunningSums]]) -> None:
        """Insert ``recs`` (built in chain order) into the chain, replace their assemblies'
        standing counts, and store the rounds' new heads and sums: one statement each for the
        records and the standing counts (:func:`insert_rows`), one per round for its sums."""
        if not recs:
            return
        insert_rows(conn, "voting_records", _RECORD_COLUMNS,
                    [(c["round"], c["seq"], c["assembly"], c["version"], c["present"], c["abstain"],
                      json.dumps(c["counts"]), c["source"], c["received_at"], c["prev"], c["hash"]) for c in recs])
        last = {(c["round"], c["assembly"]): c for c in recs}  # a batch's recount stands over its first count
        insert_rows(conn, "voting_standing", _STANDING_COLUMNS,
                    [(c["round"], c["assembly"], c["seq"], c["version"], c["present"], c["abstain"],
                      json.dumps(c["counts"]), c["source"], c["hash"]) for c in last.values()],
                    on_conflict="(round_id, assembly_id) DO UPDATE SET seq=excluded.seq, version=excluded.version, "
                                "present=excluded.present, abstain=excluded.abstain, counts=excluded.counts, "
                                "source=excluded.source, hash=excluded.hash")
        for rid in sorted({c["round"] for c in recs}):
            seq, prev, sums = heads[rid]
            conn.execute("UPDATE voting_sums SET head_seq=?, head_hash=?, sums=? WHERE round_id=?",
                         (seq, prev, json.dumps(sums.as_dict()), rid))

    @staticmethod
    def _record(r: dict, head: tuple[int, str, RunningSums], standing: dict | None, aid: str, present: int,
                abstain: int, counts: dict, source: str, now: float) -> tuple[dict, tuple[int, str, RunningSums]]:
        """The next record of ``r``'s chain after ``head`` (its hash chains to the head's) and the
        head after it, its sums moved from the assembly's ``standing`` count to this one."""
        seq, prev, sums = head
        counts = {o: int(counts.get(o, 0)) for o in r["options"]}
        rec = {"round": r["id"], "seq": seq + 1, "assembly": aid, "version": (standing["version"] if standing else 0) + 1,
               "present": present, "abstain": abstain, "counts": counts, "source": source, "received_at": now,
               "prev": prev}
        rec["hash"] = record_hash(rec)
        sums.replace(standing, rec)
        return rec, (seq + 1, rec["hash"], sums)

    def _append(self, conn, r: dict, aid: str, present: int, abstain: int, counts: dict, source: str,
                now: float) -> dict:
        """One record (the caller holds the round's lock)."""
        standing = self._standing(conn, [(r["id"], aid)]).get((r["id"], aid))
        rec, head = self._record(r, self._sums(conn, r), standing, aid, present, abstain, counts, source, now)
        self._write_records(conn, [rec], {r["id"]: head})
        return rec

    def add_tally(self, conn, rid: str, aid: str, body: Any, now: float) -> dict:
        """Record a clerk's count (or recount); returns the audit record (its hash is the receipt)."""
        ok, value = self.add_tallies(conn, [(rid, aid, body)], now)[0]
        if not ok:
            raise value
        return value

    def add_tallies(self, conn, items: list[tuple[str, str, Any]], now: float) -> list[tuple[bool, Any]]:
        """Record many counts ``(round id, assembly id, body)`` in one go, in order.

        The same rules as :meth:`add_tally`, judged at one server time ``now``; returns
        ``(True, record)`` or ``(False, error)`` per item. A refused item changes
        nothing (every check runs before its record is built, and whatever a check raises
        is that item's answer), so the others stand. A handful of statements serve the whole
        batch (rounds, assemblies, ballot mode, chain heads and sums, the standing counts of
        each round's assemblies, one INSERT of every record and one of every standing count),
        where one statement per count would hand the GIL to and from the event loop thousands
        of times per second.
        """
        out: list[tuple[bool, Any]] = []
        rids = sorted({rid for rid, _, _ in items})
        aids = sorted({aid for _, aid, _ in items})
        rounds = {r["id"]: r for r in (  # locked in id order: the chain heads read below are this batch's
            _round_row(row) for row in conn.execute(
                f"SELECT * FROM voting_rounds WHERE id IN ({','.join('?' * len(rids))}) ORDER BY id"
                f"{for_update(conn)}", rids))}
        members = dict(conn.execute(
            f"SELECT id, members FROM voting_assemblies WHERE id IN ({','.join('?' * len(aids))})", aids).fetchall())
        heads = {rid: self._sums(conn, rounds[rid]) for rid in rounds}
        standing = self._standing(conn, sorted({(rid, aid) for rid, aid, _ in items if rid in rounds}))
        ballot_mode = set()
        q = ",".join("?" * len(aids))
        for rid in rounds:
            for (aid,) in conn.execute(f"SELECT assembly_id FROM voting_ballot_boxes WHERE round_id=? "
                                       f"AND assembly_id IN ({q})", (rid, *aids)):
                ballot_mode.add((rid, aid))
        recs = []
        for rid, aid, body in items:
            try:
                r = self._require_open(rounds.get(rid), now)
                self._in_scope(r, aid)
                if aid not in members:
                    raise VotingError("Authorization", "this clerk's assembly no longer exists", "forbidden")
                if (rid, aid) in ballot_mode:
                    raise VotingError("round", "this assembly votes by individual ballots in this round", "conflict")
                tally = check_tally(body, r["options"], members[aid])
            except Exception as exc:  # noqa: BLE001 - whatever one count raises is its answer alone
                out.append((False, exc))
                continue
            rec, heads[rid] = self._record(r, heads[rid], standing.get((rid, aid)), aid, tally.present,
                                           tally.abstain, tally.counts, "clerk", now)
            standing[(rid, aid)] = rec
            recs.append(rec)
            out.append((True, rec))
        self._write_records(conn, recs, heads)
        return out

    # -- individual ballots -----------------------------------------------------------------
    NOT_VALID = "this code cannot be used: it is unknown, already used, or mistyped"
    """One answer for an unknown and a used code, so that an answer never tells which codes exist."""

    def issue_codes(self, conn, rid: str, aid: str, n: Any, now: float) -> list[str]:
        lock_row(conn, "voting_rounds", "id", rid)  # the count of codes issued is checked, then raised
        r = self.get_round(conn, rid)
        if r is None:
            raise VotingError("round", "no such round", "not_found")
        if round_state(r, now) not in ("scheduled", "open"):
            raise VotingError("round", "the round is closed", "conflict")
        self._in_scope(r, aid)
        n = check_int(n, "count", minimum=1, maximum=100_000)
        members = conn.execute("SELECT members FROM voting_assemblies WHERE id=?", (aid,)).fetchone()[0]
        box = conn.execute("SELECT issued FROM voting_ballot_boxes WHERE round_id=? AND assembly_id=?",
                           (rid, aid)).fetchone()
        issued = box[0] if box else 0
        if issued + n > members:
            raise VotingError("count", f"{issued} codes issued already; at most {members} (registered members)")
        if conn.execute("SELECT 1 FROM voting_records WHERE round_id=? AND assembly_id=? LIMIT 1",
                        (rid, aid)).fetchone():
            raise VotingError("round", "this assembly has already sent a count for this round", "conflict")
        secrets = self._secrets()
        codes = [new_code() for _ in range(n)]
        conn.executemany("INSERT INTO voting_codes(tag, round_id, assembly_id) VALUES (?,?,?)",
                         [(secrets.code_tag(c), rid, aid) for c in codes])
        conn.execute("INSERT INTO voting_ballot_boxes(round_id, assembly_id, issued) VALUES (?,?,?) "
                     "ON CONFLICT(round_id, assembly_id) DO UPDATE SET issued = voting_ballot_boxes.issued + excluded.issued",
                     (rid, aid, n))
        return codes

    def code_round(self, conn, code: str) -> tuple[dict, str, bool] | None:
        """(round, assembly, used) of a code, or None for a code that was never issued."""
        row = conn.execute("SELECT round_id, assembly_id, used FROM voting_codes WHERE tag=?",
                           (self._secrets().code_tag(code),)).fetchone()
        if row is None:
            return None
        return self.get_round(conn, row[0], breakdown=False), row[1], bool(row[2])

    def cast_ballot(self, conn, code: Any, choice: Any, now: float) -> dict:
        """Take one member's ballot: the code marked used, the choice sealed, in this transaction.

        Every check runs before the first write. An unknown and a used code get the same
        answer (:data:`NOT_VALID`); a valid code of a round that is not open is told so.
        """
        if not isinstance(code, str) or not code.strip():
            raise VotingError("code", "is required")
        secrets = self._secrets()
        tag = secrets.code_tag(code)
        row = conn.execute("SELECT round_id, assembly_id, used FROM voting_codes WHERE tag=?", (tag,)).fetchone()
        if row is None or row[2]:
            raise VotingError("code", self.NOT_VALID, "conflict")
        # The round, then the ballot box, then the code: the close's order (a close waits for this
        # ballot, or it for the close), and one order for every writer (cast_ballots sorts a batch
        # by round, box and code), so two processes' batches never each hold what the other waits for.
        lock_row(conn, "voting_rounds", "id", row[0], share=True)
        conn.execute(f"SELECT 1 FROM voting_ballot_boxes WHERE round_id=? AND assembly_id=?{for_update(conn)}",
                     (row[0], row[1]))
        lock_row(conn, "voting_codes", "tag", tag)
        r, aid = self.get_round(conn, row[0], breakdown=False), row[1]
        self._require_open(r, now)
        if choice != ABSTAIN and choice not in r["options"]:
            raise VotingError("choice", "not an option of this round (or 'abstain')")
        index = -1 if choice == ABSTAIN else r["options"].index(choice)
        sealed = secrets.seal(r["id"], aid, index)
        if conn.execute("UPDATE voting_codes SET used=1 WHERE tag=? AND used=0", (tag,)).rowcount != 1:
            raise VotingError("code", self.NOT_VALID, "conflict")
        acc = conn.execute(f"SELECT accumulator FROM voting_ballot_boxes WHERE round_id=? AND assembly_id=?"
                           f"{for_update(conn)}", (r["id"], aid)).fetchone()[0]
        conn.execute("INSERT INTO voting_sealed_ballots(id, round_id, assembly_id, sealed) VALUES (?,?,?,?)",
                     (os.urandom(16), r["id"], aid, sealed))
        conn.execute("UPDATE voting_ballot_boxes SET used = used + 1, accumulator=? WHERE round_id=? AND assembly_id=?",
                     (format(accumulate(int(acc, 16), sealed), "x"), r["id"], aid))
        return {"round": r["id"], "assembly": aid}

    def cast_ballots(self, conn, items: list[tuple[Any, Any]], now: float) -> list[tuple[bool, Any]]:
        """Many ``(code, choice)`` ballots in one transaction; ``(True, out)`` or ``(False, error)`` each.

        Each ballot runs under its own SAVEPOINT and whatever it raises is its own answer:
        a refused or broken ballot leaves no trace and the others of the batch stand.
        """
        out: list[tuple[bool, Any] | None] = [None] * len(items)
        for i in self._lock_order(conn, items):
            code, choice = items[i]
            conn.execute("SAVEPOINT ballot")
            try:
                out[i] = (True, self.cast_ballot(conn, code, choice, now))
            except Exception as exc:  # noqa: BLE001 - one ballot's failure is that ballot's answer alone
                conn.execute("ROLLBACK TO ballot")
                out[i] = (False, exc)
            conn.execute("RELEASE ballot")
        return out

    def _tag_or_none(self, code: Any) -> str | None:
        """The code's tag, or None for what cast_ballot will refuse (it says why, in its answer)."""
        if not isinstance(code, str) or not code.strip():
            return None
        try:
            return self._secrets().code_tag(code)
        except Exception:  # noqa: BLE001 - e.g. a code that is not valid UTF-8: its own ballot fails with it
            return None

    def _lock_order(self, conn, items: list[tuple[Any, Any]]) -> list[int]:
        """The indexes of ``items`` in the order every writer locks in: by round, ballot box and
        code (the answers still go back in the batch's order). One read of the batch's codes;
        a code that is not there (it fails anyway) keeps its place at the end."""
        tags = [self._tag_or_none(code) for code, _ in items]
        known = [t for t in tags if t is not None]
        where: dict = {}
        for start in range(0, len(known), 500):
            part = known[start:start + 500]
            where.update((t, (r, a)) for t, r, a in conn.execute(
                f"SELECT tag, round_id, assembly_id FROM voting_codes WHERE tag IN ({','.join('?' * len(part))})",
                part).fetchall())
        last = (chr(0x10FFFF), chr(0x10FFFF))
        return sorted(range(len(items)), key=lambda i: (*where.get(tags[i], last), tags[i] or "", i))

    def _open_ballot_boxes(self, conn, r: dict) -> tuple[list[tuple[str, dict, int, int]], list[str]]:
        """At the close: every ballot box of the round opened and checked, then emptied.

        Returns ``[(assembly, counts, abstain, present)]`` and the anomalies found: a sealed
        ballot that does not open, a box whose accepted ballots differ from its sealed ones or
        from its used codes, more ballots than codes issued or than members. The sealed
        ballots and the codes are deleted in the same transaction (``secure_delete`` is on):
        after the close nothing per ballot remains, only the count in the audit chain.
        """
        rid, options = r["id"], r["options"]
        boxes, anomalies = [], []
        for aid, issued, used, acc in conn.execute(
                "SELECT b.assembly_id, b.issued, b.used, b.accumulator FROM voting_ballot_boxes b "
                "WHERE b.round_id=? ORDER BY b.assembly_id", (rid,)).fetchall():
            counts = dict.fromkeys(options, 0)
            abstain = opened = 0
            check = 0
            for (sealed,) in conn.execute("SELECT sealed FROM voting_sealed_ballots WHERE round_id=? AND "
                                          "assembly_id=?", (rid, aid)):
                check = accumulate(check, sealed)
                index = self._secrets().unseal(rid, aid, sealed)
                if index is None or not -1 <= index < len(options):
                    anomalies.append(f"{aid}: a sealed ballot does not open (altered or moved); not counted")
                    continue
                opened += 1
                if index == -1:
                    abstain += 1
                else:
                    counts[options[index]] += 1
            codes_used = conn.execute("SELECT COUNT(*) FROM voting_codes WHERE round_id=? AND assembly_id=? "
                                      "AND used=1", (rid, aid)).fetchone()[0]
            members = conn.execute("SELECT members FROM voting_assemblies WHERE id=?", (aid,)).fetchone()[0]
            if format(check, "x") != acc or opened != used:
                anomalies.append(f"{aid}: {opened} sealed ballots open, {used} were accepted: the ballot box "
                                 "was changed outside the server")
            if codes_used != used:
                anomalies.append(f"{aid}: {codes_used} codes are marked used, {used} ballots were accepted")
            if not opened <= issued <= members:
                anomalies.append(f"{aid}: {opened} ballots, {issued} codes issued, {members} members: impossible")
                counts, abstain, opened = dict.fromkeys(options, 0), 0, 0  # an impossible box counts nothing
            boxes.append((aid, counts, abstain, opened))
        conn.execute("DELETE FROM voting_sealed_ballots WHERE round_id=?", (rid,))
        conn.execute("DELETE FROM voting_codes WHERE round_id=?", (rid,))
        return boxes, anomalies

    # -- close and result -----------------------------------------------------------------
    def close_round_once(self, conn, rid: str, now: float) -> tuple[dict, bool]:
        """:meth:`close_round`, and whether this transaction closed it (False: another had, so
        that only the closer's events go out when processes close one round at once)."""
        lock_row(conn, "voting_rounds", "id", rid)
        r = self.get_round(conn, rid, breakdown=False)
        if r is not None and r["published_at"] is not None:
            return r, False
        return self.close_round(conn, rid, now), True

    def close_round(self, conn, rid: str, now: float) -> dict:
        """Close (at ``now`` or at the scheduled time, whichever is first) and publish the result.

        Idempotent: a published round is returned unchanged. The ballots of assemblies
        voting one by one are turned into their count (a record with source ``ballots``)
        in the same transaction, then the result is read from the running sums. The round
        comes back with the result's sums and not its per-assembly breakdown, which
        :meth:`get_round` reads from the standing counts (at 10^5 assemblies the breakdown
        would keep this transaction, and the events that go out with its COMMIT, waiting).
        """
        lock_row(conn, "voting_rounds", "id", rid)  # one close, after the counts and ballots before it
        r = self.get_round(conn, rid, breakdown=False)
        if r is None:
            raise VotingError("round", "no such round", "not_found")
        if r["published_at"] is not None:
            return r
        closed_at = min(now, r["closes_at"]) if r["closed_at"] is None else r["closed_at"]
        if closed_at < r["opens_at"]:  # closed before it opened: it never opened
            closed_at = r["opens_at"] = now
        conn.execute("UPDATE voting_rounds SET closed_at=?, opens_at=? WHERE id=?", (closed_at, r["opens_at"], rid))
        r["closed_at"] = closed_at
        boxes, anomalies = self._open_ballot_boxes(conn, r)
        for aid, counts, abstain, present in boxes:
            self._append(conn, r, aid, present, abstain, counts, "ballots", closed_at)
        self.anchor(conn, rid, now)  # the last anchor: the chain as it closed
        result = self._add_up(conn, r)
        result.update({"round": rid, "closed_at": iso(closed_at)})
        if anomalies:
            result["anomalies"] = anomalies
        recall = recall_outcome(r, result)
        if recall is not None:
            result["recall"] = recall
            if r.get("quorum") is not None:
                result["rule"] = recall_rule(r["quorum"])
            if recall["passed"]:
                changed = conn.execute("UPDATE voting_delegates SET status='recalled', recalled_at=?, recall_round=? "
                                       "WHERE id=? AND status='active'", (now, rid, recall["delegate"])).rowcount
                terms = conn.execute("SELECT nomination_s, election_duration_s FROM voting_recalls WHERE round_id=?",
                                     (rid,)).fetchone()
                nomination_s, duration_s = terms if terms else (NOMINATION_DEFAULT_S, r["duration_s"])
                spec = successor_election(r, recall, now, nomination_s, duration_s)
                if changed and spec is not None:
                    recall["election"] = self._create_election(conn, spec, now)
        spec = runoff_spec(r, result, now)
        if spec is not None:
            result["runoff_round"] = self.create_round(conn, spec, now, kind="runoff", subject=rid)["id"]
        row = conn.execute("SELECT id FROM voting_elections WHERE round_id=? AND state='voting'", (rid,)).fetchone()
        if row is not None:  # an election round (or its runoff): the successor, a runoff, or new nominations
            result["election"] = self._settle_election(conn, self.get_election(conn, row[0]), result, now)
        text = orjson.dumps(result).decode()  # the sums; the breakdown stays in voting_standing (_with_breakdown)
        conn.execute("UPDATE voting_rounds SET result=?, final_hash=?, published_at=? WHERE id=?",
                     (text, result["final_hash"], now, rid))
        r.update(result=result, final_hash=result["final_hash"], published_at=now)
        return r

    def _add_up(self, conn, r: dict) -> dict:
        """The result from the round's running sums (:meth:`_sums`): totals, carried, ties, the
        rule applied, the chain's head; no pass over the records.

        The same arithmetic as :func:`voting.result.compute_result`, which ``verify-round``
        runs on the export's records, so any difference between the sums and the chain shows.
        """
        rid, options = r["id"], r["options"]
        seq, head, sums = self._sums(conn, r)
        if r["scope"] is None:  # everyone registered at the open, and any later assembly that voted
            entitled, registered = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(members), 0) FROM voting_assemblies WHERE created_at <= ? OR id IN "
                "(SELECT assembly_id FROM voting_standing WHERE round_id = ?)",
                (r["opens_at"], rid)).fetchone()
        else:
            entitled, registered = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(members), 0) FROM voting_assemblies WHERE id IN "
                f"({','.join('?' * len(r['scope']))})", r["scope"]).fetchone()
        out = decide(options, sums.totals, registered)
        out.update(abstain=sums.abstain, present=sums.present, assemblies_reporting=sums.reporting,
                   carried=sums.carried, assemblies_tied=sums.tied,
                   turnout=round(sums.present / registered, 4) if registered else 0.0,
                   final_hash=head, records=seq, genesis=r["genesis"], assemblies_entitled=entitled)
        return out

    def anchor(self, conn, rid: str, now: float) -> dict:
        """Anchor round ``rid``'s chain now (see :func:`voting.audit.anchor_hash`) and keep the anchor."""
        lock_row(conn, "voting_rounds", "id", rid)  # the head and the boxes as one moment of the chain
        r = self.get_round(conn, rid)
        head = conn.execute("SELECT seq, hash FROM voting_records WHERE round_id=? ORDER BY seq DESC LIMIT 1",
                            (rid,)).fetchone()
        boxes = [list(b) for b in conn.execute("SELECT assembly_id, used, accumulator FROM voting_ballot_boxes "
                                               "WHERE round_id=? ORDER BY assembly_id", (rid,))]
        a = {"round": rid, "at": round(now, 3), "seq": head[0] if head else 0,
             "head": head[1] if head else r["genesis"], "boxes": boxes}
        a["anchor"] = anchor_hash(a)
        conn.execute("INSERT INTO voting_anchors(round_id, at, seq, head, boxes, anchor) VALUES (?,?,?,?,?,?) "
                     "ON CONFLICT(round_id, at) DO UPDATE SET seq=excluded.seq, head=excluded.head, "
                     "boxes=excluded.boxes, anchor=excluded.anchor", (rid, a["at"], a["seq"], a["head"], json.dumps(boxes), a["anchor"]))
        return a

    def anchors(self, conn, rid: str) -> list[dict]:
        return [{"round": rid, "at": at, "seq": seq, "head": head, "boxes": json.loads(boxes), "anchor": anchor}
                for at, seq, head, boxes, anchor in conn.execute(
                    "SELECT at, seq, head, boxes, anchor FROM voting_anchors WHERE round_id=? ORDER BY at", (rid,))]

    def latest_anchor(self, conn, rid: str) -> dict | None:
        row = conn.execute("SELECT at, anchor FROM voting_anchors WHERE round_id=? ORDER BY at DESC LIMIT 1",
                           (rid,)).fetchone()
        return None if row is None else {"at": row[0], "anchor": row[1]}

    def export(self, conn, rid: str) -> dict:
        """The documented audit export of a published round (see :mod:`voting.audit`)."""
        r = self.get_round(conn, rid)
        if r is None:
            raise VotingError("round", "no such round", "not_found")
        if r["published_at"] is None:
            raise VotingError("round", "the audit record is published with the result, after the close", "conflict")
        records = []
        for row in conn.execute("SELECT * FROM voting_records WHERE round_id=? ORDER BY seq", (rid,)):
            records.append({"round": row["round_id"], "seq": row["seq"], "assembly": row["assembly_id"],
                            "version": row["version"], "present": row["present"], "abstain": row["abstain"],
                            "counts": json.loads(row["counts"]), "source": row["source"],
                            "received_at": row["received_at"], "prev": row["prev"], "hash": row["hash"]})
        return {"format": FORMAT, "definition": definition(rid, r["title"], r["options"], r["scope"], r["kind"],
                                                             r.get("quorum")),
                "genesis": r["genesis"], "records": records, "result": r["result"], "anchors": self.anchors(conn, rid)}

    # -- delegates, roll calls, recall ----------------------------------------------------------
    def create_delegate(self, conn, name: str, assemblies: list[str], now: float) -> dict:
        for a in assemblies:
            if conn.execute("SELECT 1 FROM voting_assemblies WHERE id=?", (a,)).fetchone() is None:
                raise VotingError("assemblies", f"unknown assembly {a}")
        did = new_id("d")
        conn.execute("INSERT INTO voting_delegates(id, name, assemblies, elected_at) VALUES (?,?,?,?)",
                     (did, name, json.dumps(sorted(set(assemblies))), now))
        return self.get_delegate(conn, did)

    def get_delegate(self, conn, did: str) -> dict | None:
        row = conn.execute("SELECT * FROM voting_delegates WHERE id=?", (did,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["assemblies"] = json.loads(d["assemblies"])
        d["elected_at"], d["recalled_at"] = iso(d["elected_at"]), iso(d["recalled_at"])
        # the successor elected after their recall, and whom they succeeded: links both ways
        succ = conn.execute("SELECT e.successor, s.name FROM voting_elections e JOIN voting_delegates s ON "
                            "s.id = e.successor WHERE e.recalled=? ORDER BY e.created_at DESC LIMIT 1", (did,)).fetchone()
        pred = conn.execute("SELECT e.recalled, p.name FROM voting_elections e JOIN voting_delegates p ON "
                            "p.id = e.recalled WHERE e.successor=? LIMIT 1", (did,)).fetchone()
        d["successor"] = {"id": succ[0], "name": succ[1]} if succ else None
        d["predecessor"] = {"id": pred[0], "name": pred[1]} if pred else None
        return d

    def find_delegate(self, conn, name: str) -> dict | None:
        row = conn.execute("SELECT id FROM voting_delegates WHERE name=? ORDER BY id LIMIT 1", (name,)).fetchone()
        return None if row is None else self.get_delegate(conn, row[0])

    def list_delegates(self, conn) -> list[dict]:
        return [self.get_delegate(conn, r[0]) for r in conn.execute(
            "SELECT id FROM voting_delegates ORDER BY name, id").fetchall()]

    def open_recall(self, conn, did: str, by_assembly: str, req: dict, quorum: float,
                    now: float) -> tuple[dict, str]:
        """A recall request against delegate ``did`` from assembly ``by_assembly``: (round, action).

        ``req`` is :func:`voting.rules.check_recall_request`'s. With no recall pending, a
        round of kind ``recall`` opens (``opened``) at ``opens_at`` (at most 7 days ahead) or now,
        with the turnout ``quorum`` in force now recorded in it (and in its genesis). With one
        scheduled and not yet open, the request **joins** it (``joined``: no second round, the
        round unchanged), or with ``now`` brings it forward to now (``brought_forward``; it keeps
        its duration). Every request is recorded with its assembly. One already open is a 409.
        """
        lock_row(conn, "voting_delegates", "id", did)  # one recall round per delegate, whichever process asks
        d = self.get_delegate(conn, did)
        if d is None:
            raise VotingError("delegate", "no such delegate", "not_found")
        if by_assembly not in d["assemblies"]:
            raise VotingError("Authorization", "only an assembly of the delegate's constituency may recall", "forbidden")
        if d["status"] != "active":
            raise VotingError("delegate", "already recalled", "conflict")
        row = conn.execute("SELECT id FROM voting_rounds WHERE kind='recall' AND subject=? AND published_at IS NULL",
                           (did,)).fetchone()
        if row is not None:
            r = self.get_round(conn, row[0])
            if round_state(r, now) != "scheduled":
                raise VotingError("delegate", f"a recall round for this delegate is already under way (it closes at "
                                              f"{iso(r['closes_at'])})", "conflict")
            action = "joined"
            if req["now"]:
                action = "brought_forward"
                conn.execute("UPDATE voting_rounds SET opens_at=?, closes_at=? WHERE id=?",
                             (now, now + r["duration_s"], r["id"]))
            conn.execute("INSERT INTO voting_recall_requests(round_id, assembly_id, action, at) "
                         "VALUES (?,?,?,?) ON CONFLICT DO NOTHING", (r["id"], by_assembly, action, now))
            return self.get_round(conn, r["id"]), action
        if req["duration_s"] is None:
            raise VotingError("duration_s", "is required to open a recall round (a number of seconds)")
        opens_at = now if req["now"] or req["opens_at"] is None else req["opens_at"]
        spec = {"title": f"Recall of delegate {d['name']}", "options": ["recall", "keep"],
                "duration_s": req["duration_s"], "opens_at": opens_at, "closes_at": opens_at + req["duration_s"],
                "scope": d["assemblies"]}
        r = self.create_round(conn, spec, now, kind="recall", subject=did, quorum=quorum)
        conn.execute("INSERT INTO voting_recalls(round_id, delegate_id, nomination_s, election_duration_s) "
                     "VALUES (?,?,?,?)", (r["id"], did, req["nomination_s"] or NOMINATION_DEFAULT_S,
                                          req["election_duration_s"] or req["duration_s"]))
        conn.execute("INSERT INTO voting_recall_requests(round_id, assembly_id, action, at) VALUES (?,?,?,?)",
                     (r["id"], by_assembly, "opened", now))
        return r, "opened"

    def recall_requests(self, conn, rid: str) -> list[dict]:
        """Who asked for recall round ``rid``: ``[{"assembly", "name", "action", "at"}]`` in order."""
        return [{"assembly": a, "name": n, "action": act, "at": iso(at)} for a, n, act, at in conn.execute(
            "SELECT q.assembly_id, ga.name, q.action, q.at FROM voting_recall_requests q LEFT JOIN voting_assemblies ga "
            "ON ga.id = q.assembly_id WHERE q.round_id=? ORDER BY q.at, q.assembly_id", (rid,))]

    def recall_terms(self, conn, rid: str) -> dict | None:
        """The successor's election terms a recall round carries, should it pass."""
        row = conn.execute("SELECT nomination_s, election_duration_s FROM voting_recalls WHERE round_id=?",
                           (rid,)).fetchone()
        return None if row is None else {"nomination_s": row[0], "election_duration_s": row[1]}

    # -- a recalled delegate's successor ------------------------------------------------------
    def _create_election(self, conn, spec: dict, now: float) -> str:
        eid = new_id("el")
        conn.execute("INSERT INTO voting_elections(id, recalled, recall_round, scope, nomination_s, duration_s, "
                     "nominations_close, state, created_at) VALUES (?,?,?,?,?,?,?,'nominating',?)",
                     (eid, spec["recalled"], spec["recall_round"], json.dumps(spec["scope"]), spec["nomination_s"],
                      spec["duration_s"], spec["nominations_close"], now))
        return eid

    def get_election(self, conn, eid: str) -> dict | None:
        """A successor election with its candidates (and who put each forward), rounds and successor."""
        row = conn.execute("SELECT * FROM voting_elections WHERE id=?", (eid,)).fetchone()
        if row is None:
            return None
        e = dict(row)
        e["scope"], e["rounds"] = json.loads(e["scope"]), json.loads(e["rounds"])
        e["nominations_close_ts"] = e["nominations_close"]
        e["nominations_close"] = iso(e["nominations_close"])
        e["created_at"], e["decided_at"] = iso(e["created_at"]), iso(e["decided_at"])
        e["candidates"] = [{"name": n, "assembly": a, "assembly_name": an, "at": iso(at)} for n, a, an, at in conn.execute(
            "SELECT c.name, c.assembly_id, ga.name, c.at FROM voting_election_candidates c LEFT JOIN voting_assemblies "
            "ga ON ga.id = c.assembly_id WHERE c.election_id=? ORDER BY c.at, c.name", (eid,))]
        names = dict(conn.execute("SELECT id, name FROM voting_delegates WHERE id IN (?, ?)",
                                  (e["recalled"], e["successor"] or "")).fetchall())
        e["recalled_name"] = names.get(e["recalled"])
        e["successor_name"] = names.get(e["successor"]) if e["successor"] else None
        return e

    def election_of(self, conn, did: str) -> dict | None:
        """The latest successor election of recalled delegate ``did``, or None."""
        row = conn.execute("SELECT id FROM voting_elections WHERE recalled=? ORDER BY created_at DESC, id LIMIT 1",
                           (did,)).fetchone()
        return None if row is None else self.get_election(conn, row[0])

    def nominating_elections(self, conn) -> list[dict]:
        """Elections whose nominations are open (for the scheduler, which opens their rounds)."""
        return [self.get_election(conn, r[0]) for r in conn.execute(
            "SELECT id FROM voting_elections WHERE state='nominating' ORDER BY nominations_close").fetchall()]

    def nominate(self, conn, did: str, aid: str, name: str, now: float) -> dict:
        """Assembly ``aid`` (a clerk's) puts ``name`` forward as successor to recalled delegate ``did``."""
        e = self.election_of(conn, did)
        if e is None:
            raise VotingError("id", "no successor election for this delegate: one opens when a recall passes",
                              "not_found")
        lock_row(conn, "voting_elections", "id", e["id"])
        e = self.get_election(conn, e["id"])  # as it stands once locked
        if aid not in e["scope"]:
            raise VotingError("Authorization", "only a clerk of the constituency puts candidates forward", "forbidden")
        if e["state"] != "nominating":
            raise VotingError("id", f"the election is {e['state']}: candidates are put forward until nominations "
                                    "close", "conflict")
        if now >= e["nominations_close_ts"]:
            raise VotingError("id", f"nominations closed at {e['nominations_close']}", "conflict")
        if any(c["name"].casefold() == name.casefold() for c in e["candidates"]):
            raise VotingError("name", "already a candidate", "conflict")
        if len(e["candidates"]) >= MAX_OPTIONS:
            raise VotingError("name", f"at most {MAX_OPTIONS} candidates", "conflict")
        conn.execute("INSERT INTO voting_election_candidates(election_id, name, assembly_id, at) VALUES (?,?,?,?)",
                     (e["id"], name, aid, now))
        return self.get_election(conn, e["id"])

    def open_election(self, conn, eid: str, now: float) -> tuple[dict, dict | None]:
        """At the end of the nomination window: the election round among the candidates, or with
        fewer than two another window. (election, round or None); a no-op before the window ends."""
        e = self.get_election(conn, eid)
        if e is None or e["state"] != "nominating" or now < e["nominations_close_ts"]:
            return e, None
        spec = election_round_spec(e, [c["name"] for c in e["candidates"]], e["recalled_name"], now)
        if spec is None:
            close = now + e["nomination_s"]
            conn.execute("UPDATE voting_elections SET nominations_close=?, note=? WHERE id=?",
                         (close, f"{len(e['candidates'])} candidate(s) when nominations closed, two are needed: "
                                 f"nominations stay open until {iso(close)}", eid))
            return self.get_election(conn, eid), None
        r = self.create_round(conn, spec, now, kind="election", subject=e["recalled"])
        conn.execute("UPDATE voting_elections SET state='voting', round_id=?, rounds=?, note=NULL WHERE id=?",
                     (r["id"], json.dumps(e["rounds"] + [r["id"]]), eid))
        return self.get_election(conn, eid), r

    def _settle_election(self, conn, e: dict, result: dict, now: float) -> dict:
        """Carry out what an election round's result decides (:func:`voting.consequences.election_outcome`)."""
        out = election_outcome(result, e, now)
        if out["state"] == "decided":
            successor = self.create_delegate(conn, out["winner"], e["scope"], now)
            conn.execute("UPDATE voting_elections SET state='decided', successor=?, decided_at=?, round_id=NULL, "
                         "note=NULL WHERE id=?", (successor["id"], now, e["id"]))
            return {"id": e["id"], "state": "decided", "successor": successor["id"], "name": successor["name"]}
        if out["state"] == "voting":
            runoff = result["runoff_round"]
            conn.execute("UPDATE voting_elections SET round_id=?, rounds=? WHERE id=?",
                         (runoff, json.dumps(e["rounds"] + [runoff]), e["id"]))
            return {"id": e["id"], "state": "voting", "round": runoff}
        conn.execute("UPDATE voting_elections SET state='nominating', nominations_close=?, round_id=NULL, note=? "
                     "WHERE id=?", (out["nominations_close"], out["note"], e["id"]))
        return {"id": e["id"], "state": "nominating", "nominations_close": iso(out["nominations_close"]),
                "note": out["note"]}

    def create_rollcall(self, conn, title: str, options: list[str], round_id: str | None, now: float) -> dict:
        if round_id is not None and self.get_round(conn, round_id, breakdown=False) is None:
            raise VotingError("round", "no such round")
        rid = new_id("rc")
        conn.execute("INSERT INTO voting_rollcalls(id, title, options, round_id, opened_at) VALUES (?,?,?,?,?)",
                     (rid, title, json.dumps(options), round_id, now))
        return self.get_rollcall(conn, rid)

    def get_rollcall(self, conn, rcid: str) -> dict | None:
        row = conn.execute("SELECT * FROM voting_rollcalls WHERE id=?", (rcid,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["options"] = json.loads(d["options"])
        d["opened_at"], d["closed_at"] = iso(d["opened_at"]), iso(d["closed_at"])
        d["votes"] = [{"delegate": v[0], "name": v[1], "choice": v[2], "at": iso(v[3])} for v in conn.execute(
            "SELECT v.delegate_id, d.name, v.choice, v.at FROM voting_rollcall_votes v JOIN voting_delegates d "
            "ON d.id = v.delegate_id WHERE v.rollcall_id=? ORDER BY d.name", (rcid,))]
        d["totals"] = {o: sum(1 for v in d["votes"] if v["choice"] == o) for o in d["options"] + [ABSTAIN]}
        return d

    def list_rollcalls(self, conn) -> list[dict]:
        return [self.get_rollcall(conn, r[0]) for r in conn.execute(
            "SELECT id FROM voting_rollcalls ORDER BY opened_at DESC").fetchall()]

    def rollcall_vote(self, conn, rcid: str, did: Any, choice: Any, now: float) -> dict:
        rc = self.get_rollcall(conn, rcid)
        if rc is None:
            raise VotingError("rollcall", "no such roll call", "not_found")
        if rc["closed_at"] is not None:
            raise VotingError("rollcall", "the roll call is closed", "conflict")
        if not isinstance(did, str):
            raise VotingError("delegate", "is required")
        d = self.get_delegate(conn, did)
        if d is None:
            raise VotingError("delegate", "no such delegate")
        if d["status"] != "active":
            raise VotingError("delegate", "this delegate has been recalled", "conflict")
        if choice != ABSTAIN and choice not in rc["options"]:
            raise VotingError("choice", "not an option of this roll call (or 'abstain')")
        conn.execute("INSERT INTO voting_rollcall_votes(rollcall_id, delegate_id, choice, at) VALUES (?,?,?,?) "
                     "ON CONFLICT(rollcall_id, delegate_id) DO UPDATE SET choice=excluded.choice, at=excluded.at",
                     (rcid, did, choice, now))
        return {"rollcall": rcid, "delegate": did, "name": d["name"], "choice": choice, "at": iso(now)}

    def close_rollcall(self, conn, rcid: str, now: float) -> dict:
        rc = self.get_rollcall(conn, rcid)
        if rc is None:
            raise VotingError("rollcall", "no such roll call", "not_found")
        if rc["closed_at"] is not None:  # as rounds and elections: a second close is a conflict, not news
            raise VotingError("rollcall", "the roll call is already closed", "conflict")
        conn.execute("UPDATE voting_rollcalls SET closed_at=? WHERE id=? AND closed_at IS NULL", (now, rcid))
        return self.get_rollcall(conn, rcid)

    def delegate_record(self, conn, did: str) -> list[dict]:
        """The delegate's roll-call votes, each beside the constituency's vote on the same question."""
        d = self.get_delegate(conn, did)
        out = []
        for row in conn.execute(
                "SELECT rc.id, rc.title, rc.round_id, v.choice, v.at FROM voting_rollcall_votes v JOIN "
                "voting_rollcalls rc ON rc.id = v.rollcall_id WHERE v.delegate_id=? ORDER BY v.at DESC", (did,)):
            item = {"rollcall": row[0], "title": row[1], "round": row[2], "choice": row[3], "at": iso(row[4]),
                    "constituency": None}
            if row[2]:
                r = self.get_round(conn, row[2])
                if r and r["result"]:
                    mine = [a for a in r["result"]["assemblies"] if a["id"] in d["assemblies"]]
                    item["constituency"] = {o: sum(a["counts"][o] for a in mine) for o in r["options"]}
            out.append(item)
        return out

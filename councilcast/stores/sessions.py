"""Sessions of the Central Assembly and its Council: the session, its agenda, its speakers' list.

Plain rows, one line of SQL each; the rules are :mod:`assembly.sessions`.
"""

from __future__ import annotations

import json
import secrets

__all__ = ["AREA", "MIGRATIONS", "create_session", "get_session", "list_sessions", "set_state", "add_item",
           "items", "get_item", "update_item", "set_current_item", "reorder", "item_of_round", "add_speaker", "speakers",
           "get_speaker", "update_speaker", "live_sessions"]

AREA = "sessions"

MIGRATIONS = [
    """
    CREATE TABLE assembly_sessions (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,               -- central-assembly, central-council, committee:<slug>
        title TEXT NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,              -- scheduled, open, adjourned, closed
        starts_at REAL NOT NULL,
        opened_at REAL,
        closed_at REAL,
        current_item TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE assembly_items (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES assembly_sessions(id),
        position INTEGER NOT NULL,
        title TEXT NOT NULL,
        kind TEXT NOT NULL,               -- report, debate, decision
        options TEXT,                     -- JSON list (decision)
        variant_set TEXT,                 -- the published set its options came from
        duration_s REAL NOT NULL,
        state TEXT NOT NULL,              -- pending, current, done
        started_at REAL,
        ended_at REAL,
        rounds TEXT NOT NULL DEFAULT '[]',  -- JSON: the first round, then any runoff
        outcome TEXT                      -- JSON {text, winner, round, final_hash}
    );
    CREATE INDEX assembly_items_session ON assembly_items(session_id, position);
    CREATE TABLE assembly_speakers (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES assembly_sessions(id),
        item_id TEXT,
        who_kind TEXT NOT NULL,           -- delegate or assembly
        who_id TEXT NOT NULL,
        who_name TEXT NOT NULL,
        state TEXT NOT NULL,              -- waiting, speaking, done, withdrawn
        asked_at REAL NOT NULL,
        granted_at REAL,
        ends_at REAL,
        done_at REAL
    );
    CREATE INDEX assembly_speakers_session ON assembly_speakers(session_id, asked_at);
    """,
]


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def create_session(conn, spec: dict, now: float) -> dict:
    sid = _id("s")
    conn.execute("INSERT INTO assembly_sessions(id, body, title, channel, state, starts_at, created_at) "
                 "VALUES (?,?,?,?,?,?,?)", (sid, spec["body"], spec["title"], spec["channel"], "scheduled",
                                            spec["starts_at"], now))
    return get_session(conn, sid)


def get_session(conn, sid: str) -> dict | None:
    row = conn.execute("SELECT * FROM assembly_sessions WHERE id=?", (sid,)).fetchone()
    return None if row is None else dict(row)


def list_sessions(conn, limit: int = 200) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM assembly_sessions ORDER BY starts_at DESC, id LIMIT ?",
                                          (limit,))]


def live_sessions(conn) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM assembly_sessions WHERE state IN ('open', 'adjourned')")]


def set_state(conn, sid: str, state: str, now: float) -> None:
    col = {"open": "opened_at", "closed": "closed_at"}.get(state)
    if col:
        conn.execute(f"UPDATE assembly_sessions SET state=?, {col}=COALESCE({col}, ?) WHERE id=?", (state, now, sid))
    else:
        conn.execute("UPDATE assembly_sessions SET state=? WHERE id=?", (state, sid))


def add_item(conn, sid: str, spec: dict) -> dict:
    iid = _id("i")
    pos = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM assembly_items WHERE session_id=?",
                       (sid,)).fetchone()[0]
    conn.execute("INSERT INTO assembly_items(id, session_id, position, title, kind, options, variant_set, "
                 "duration_s, state) VALUES (?,?,?,?,?,?,?,?,?)",
                 (iid, sid, pos, spec["title"], spec["kind"],
                  None if spec["options"] is None else json.dumps(spec["options"]), spec["variant_set"],
                  spec["duration_s"], "pending"))
    return get_item(conn, iid)


def _item(row) -> dict:
    d = dict(row)
    d["options"] = json.loads(d["options"]) if d["options"] else None
    d["rounds"] = json.loads(d["rounds"])
    d["outcome"] = json.loads(d["outcome"]) if d["outcome"] else None
    return d


def items(conn, sid: str) -> list[dict]:
    return [_item(r) for r in conn.execute("SELECT * FROM assembly_items WHERE session_id=? ORDER BY position",
                                           (sid,))]


def get_item(conn, iid: str) -> dict | None:
    row = conn.execute("SELECT * FROM assembly_items WHERE id=?", (iid,)).fetchone()
    return None if row is None else _item(row)


def update_item(conn, iid: str, **fields) -> None:
    for key in ("rounds", "outcome"):
        if key in fields and fields[key] is not None:
            fields[key] = json.dumps(fields[key])
    sets = ", ".join(f"{k}=?" for k in fields)
    conn.execute(f"UPDATE assembly_items SET {sets} WHERE id=?", (*fields.values(), iid))


def set_current_item(conn, sid: str, iid: str | None) -> None:
    conn.execute("UPDATE assembly_sessions SET current_item=? WHERE id=?", (iid, sid))


def reorder(conn, order: list[str]) -> None:
    conn.executemany("UPDATE assembly_items SET position=? WHERE id=?", [(i + 1, iid) for i, iid in enumerate(order)])


def item_of_round(conn, round_id: str) -> dict | None:
    """The agenda item whose vote (first round or runoff) is ``round_id``."""
    for row in conn.execute("SELECT * FROM assembly_items WHERE kind='decision' AND state != 'pending' "
                            "AND rounds LIKE ?", (f'%"{round_id}"%',)):
        item = _item(row)
        if round_id in item["rounds"]:
            return item
    return None


def add_speaker(conn, sid: str, item_id: str | None, who: dict, now: float) -> dict:
    spid = _id("sp")
    conn.execute("INSERT INTO assembly_speakers(id, session_id, item_id, who_kind, who_id, who_name, state, "
                 "asked_at) VALUES (?,?,?,?,?,?,?,?)",
                 (spid, sid, item_id, who["kind"], who["id"], who["name"], "waiting", now))
    return get_speaker(conn, spid)


def speakers(conn, sid: str) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM assembly_speakers WHERE session_id=? ORDER BY asked_at, id",
                                          (sid,))]


def get_speaker(conn, spid: str) -> dict | None:
    row = conn.execute("SELECT * FROM assembly_speakers WHERE id=?", (spid,)).fetchone()
    return None if row is None else dict(row)


def update_speaker(conn, spid: str, **fields) -> None:
    sets = ", ".join(f"{k}=?" for k in fields)
    conn.execute(f"UPDATE assembly_speakers SET {sets} WHERE id=?", (*fields.values(), spid))


__all__ += ["chapter_rows"]


def chapter_rows(conn, channel: str, start_ts: float, end_ts: float) -> tuple[list[dict], list[dict]]:
    """What happened on ``channel`` between ``start_ts`` and ``end_ts`` (for a recording's chapters):
    the items started before ``end_ts`` and not ended before ``start_ts`` (with their
    ``position`` on the agenda), and the speakers' turns granted before ``end_ts`` and not done
    before ``start_ts`` (``done_at`` is None while the turn goes on), of every session on the
    channel, in order of start."""
    items_ = [dict(r) for r in conn.execute(
        "SELECT i.id, i.session_id, i.position, i.title, i.kind, i.started_at, i.ended_at "
        "FROM assembly_items i JOIN assembly_sessions s ON s.id = i.session_id "
        "WHERE s.channel=? AND i.started_at IS NOT NULL AND i.started_at <= ? "
        "AND (i.ended_at IS NULL OR i.ended_at >= ?) ORDER BY i.started_at, i.id", (channel, end_ts, start_ts))]
    turns = [dict(r) for r in conn.execute(
        "SELECT p.id, p.session_id, p.item_id, p.who_kind, p.who_name, p.granted_at, p.done_at "
        "FROM assembly_speakers p JOIN assembly_sessions s ON s.id = p.session_id "
        "WHERE s.channel=? AND p.granted_at IS NOT NULL AND p.granted_at <= ? "
        "AND (p.done_at IS NULL OR p.done_at >= ?) ORDER BY p.granted_at, p.id", (channel, end_ts, start_ts))]
    return items_, turns

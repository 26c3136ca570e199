"""Core tables: settings and bearer tokens of every role, and the token queries.

Tokens are stored as their SHA-256 (:func:`councilcast.auth.hash_token`); the plain token
is returned once, to whoever asked for it, and never stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = ["AREA", "MIGRATIONS", "TokenRecord", "insert_token", "live_tokens", "revoke_tokens", "has_live_token",
           "token_by_hash", "list_live_tokens"]

AREA = "core"

MIGRATIONS = [
    """
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,          -- secretariat, studio, clerk, delegate, member
        subject TEXT,                -- what the token speaks for, e.g. an assembly id
        token_hash TEXT NOT NULL UNIQUE,
        label TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX tokens_role_subject ON tokens(role, subject);
    """,
]


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: str
    subject: str | None
    label: str | None


def insert_token(conn, role: str, subject: str | None, label: str | None, token_hash: str,
                 now: float) -> TokenRecord:
    tid = secrets.token_hex(8)
    conn.execute("INSERT INTO tokens(id, role, subject, token_hash, label, created_at) VALUES (?,?,?,?,?,?)",
                 (tid, role, subject, token_hash, label, now))
    return TokenRecord(tid, role, subject, label)


def live_tokens(conn, hashes: list[str]) -> dict[str, TokenRecord]:
    """The records of the tokens among ``hashes`` that exist and are not revoked, by hash.

    One query for a whole batch: the count path checks every clerk's token of a batch in
    the same transaction that records the counts.
    """
    if not hashes:
        return {}
    rows = conn.execute(
        f"SELECT token_hash, id, role, subject, label FROM tokens WHERE revoked_at IS NULL AND token_hash IN "
        f"({','.join('?' * len(hashes))})", hashes).fetchall()
    return {r[0]: TokenRecord(r[1], r[2], r[3], r[4]) for r in rows}


TOKEN_SETUP_LOCK = 0x636F756E636974  # pg_advisory_xact_lock key of the start-up token set-up ("councit")


def lock_token_setup(conn) -> None:
    """Serialize the start-up set-up of the roles' own tokens among processes starting at once
    (PostgreSQL: a transaction-scoped advisory lock; SQLite's writer already holds the only
    write lock), so that two of them never both register the same configured token."""
    if conn.dialect == "postgresql":
        conn.execute("SELECT pg_advisory_xact_lock(?)", (TOKEN_SETUP_LOCK,))


def revoke_tokens(conn, now: float, *, token_id: str | None = None, role: str | None = None,
                  subject: str | None = None) -> int:
    """Revoke one token by id, or every live token of (role, subject). Returns how many."""
    if token_id is not None:
        cur = conn.execute("UPDATE tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (now, token_id))
    else:
        cur = conn.execute("UPDATE tokens SET revoked_at=? WHERE role=? AND subject IS NOT DISTINCT FROM ? AND revoked_at IS NULL",
                           (now, role, subject))
    return cur.rowcount


def has_live_token(conn, *, role: str | None = None, token_hash: str | None = None) -> bool:
    """Whether a live token exists with this hash, or of this role with no subject."""
    if token_hash is not None:
        row = conn.execute("SELECT 1 FROM tokens WHERE token_hash=? AND revoked_at IS NULL", (token_hash,)).fetchone()
    else:
        row = conn.execute("SELECT 1 FROM tokens WHERE role=? AND subject IS NULL AND revoked_at IS NULL",
                           (role,)).fetchone()
    return row is not None


def token_by_hash(conn, token_hash: str) -> tuple[TokenRecord, float | None] | None:
    """The record of the token with this hash and when it was revoked (None: live), or None if unknown."""
    row = conn.execute("SELECT id, role, subject, label, revoked_at FROM tokens WHERE token_hash=?",
                       (token_hash,)).fetchone()
    return None if row is None else (TokenRecord(row[0], row[1], row[2], row[3]), row[4])


def list_live_tokens(conn, roles: tuple[str, ...]) -> list[dict]:
    """The live tokens of ``roles`` (never their hashes), oldest first: id, role, subject, label, created_at."""
    rows = conn.execute(
        f"SELECT id, role, subject, label, created_at FROM tokens WHERE revoked_at IS NULL AND role IN "
        f"({','.join('?' * len(roles))}) ORDER BY created_at, id", roles).fetchall()
    return [{"id": r[0], "role": r[1], "subject": r[2], "label": r[3], "created_at": r[4]} for r in rows]

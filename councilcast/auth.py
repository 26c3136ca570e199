"""Bearer tokens for every role, stored hashed.

Tokens are 256-bit random strings from :mod:`secrets`; we store their SHA-256, which is
enough for high-entropy secrets (a slow password hash protects guessable passwords, and
these are not guessable). A token belongs to one role (secretariat, studio, clerk,
delegate, member) and optionally one subject (the assembly or channel it speaks for).
Lookups are cached in memory; :meth:`Auth.revoke` and :meth:`Auth.rotate` clear the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from aiohttp import web

from councilcast.errors import ApiError
from councilcast.storage import Database

__all__ = ["Auth", "TokenRecord", "hash_token", "new_token", "bearer"]

ROLES = ("secretariat", "studio", "clerk", "delegate", "member")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(request: web.Request) -> str | None:
    """The bearer token of a request (RFC 6750 header), or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: str
    subject: str | None
    label: str | None


def insert_token(conn: sqlite3.Connection, role: str, subject: str | None = None, label: str | None = None,
                 token: str | None = None) -> tuple[str, TokenRecord]:
    """Create a token inside a write transaction; returns (plain token, record)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    token = token or new_token()
    tid = secrets.token_hex(8)
    conn.execute(
        "INSERT INTO tokens(id, role, subject, token_hash, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (tid, role, subject, hash_token(token), label, time.time()),
    )
    return token, TokenRecord(tid, role, subject, label)


class Auth:
    """Checks bearer tokens against the ``tokens`` table."""

    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[str, TokenRecord | None] = {}

    async def issue(self, role: str, subject: str | None = None, label: str | None = None,
                    token: str | None = None) -> tuple[str, TokenRecord]:
        return await self.db.write(lambda c: insert_token(c, role, subject, label, token))

    async def revoke(self, *, token_id: str | None = None, role: str | None = None,
                     subject: str | None = None) -> int:
        """Revoke one token by id, or every live token of (role, subject). Returns how many."""
        def do(conn):
            now = time.time()
            if token_id is not None:
                cur = conn.execute("UPDATE tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (now, token_id))
            else:
                cur = conn.execute(
                    "UPDATE tokens SET revoked_at=? WHERE role=? AND subject IS ? AND revoked_at IS NULL",
                    (now, role, subject),
                )
            return cur.rowcount
        n = await self.db.write(do)
        self._cache.clear()
        return n

    async def rotate(self, role: str, subject: str | None, label: str | None = None) -> tuple[str, TokenRecord]:
        """Revoke the live tokens of (role, subject) and issue a new one, in one transaction."""
        def do(conn):
            conn.execute(
                "UPDATE tokens SET revoked_at=? WHERE role=? AND subject IS ? AND revoked_at IS NULL",
                (time.time(), role, subject),
            )
            return insert_token(conn, role, subject, label)
        out = await self.db.write(do)
        self._cache.clear()
        return out

    async def lookup(self, token: str) -> TokenRecord | None:
        h = hash_token(token)
        if h in self._cache:
            return self._cache[h]

        def q(conn):
            return conn.execute(
                "SELECT id, role, subject, label FROM tokens WHERE token_hash=? AND revoked_at IS NULL", (h,)
            ).fetchone()

        row = await self.db.read(q)
        rec = TokenRecord(row["id"], row["role"], row["subject"], row["label"]) if row else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[h] = rec
        return rec

    async def require(self, request: web.Request, *roles: str, subject: str | None = None) -> TokenRecord:
        """The caller's token record if it has one of ``roles`` (and ``subject`` when given).

        401 without a token or with an unknown one; 403 with a valid token of another role.
        """
        token = bearer(request)
        if token is None:
            raise ApiError(401, "Authorization", "a bearer token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="councilcast"'})
        rec = await self.lookup(token)
        if rec is None:
            raise ApiError(401, "Authorization", "unknown or revoked token",
                           headers={"WWW-Authenticate": 'Bearer realm="councilcast", error="invalid_token"'})
        if rec.role not in roles or (subject is not None and rec.subject != subject):
            raise ApiError(403, "Authorization", f"this token may not do that (needs {' or '.join(roles)})")
        return rec

    def ensure_role_token(self, role: str, configured: str | None) -> str | None:
        """At start-up: make sure a token for ``role`` (no subject) exists.

        With a configured token, register it (if new). Without one and none stored, generate
        one and return it so the CLI can print it once; otherwise return None.
        """
        def do(conn):
            if configured:
                if conn.execute("SELECT 1 FROM tokens WHERE token_hash=? AND revoked_at IS NULL",
                                (hash_token(configured),)).fetchone() is None:
                    insert_token(conn, role, None, "configured", configured)
                return None
            row = conn.execute("SELECT 1 FROM tokens WHERE role=? AND subject IS NULL AND revoked_at IS NULL",
                               (role,)).fetchone()
            if row is None:
                token, _ = insert_token(conn, role, None, "generated at first start")
                return token
            return None
        return self.db.write_sync(do)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

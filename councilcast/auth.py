"""Bearer tokens for every role, stored hashed.

Tokens are 256-bit random strings from :mod:`secrets`; we store their SHA-256, which is
enough for high-entropy secrets (a slow password hash protects guessable passwords, and
these are not guessable). A token belongs to one role (secretariat, studio, clerk,
delegate, member) and optionally one subject (the assembly or channel it speaks for).
Lookups are cached in memory for :data:`CACHE_TTL` seconds; :meth:`Auth.revoke` and
:meth:`Auth.rotate` clear this process's cache at once. Other processes on the same
database (``serve --workers N``, several machines) see a revocation when their entry
expires: a revoked token stops working everywhere within ``CACHE_TTL``.

The secretariat's and the studio's own tokens (no subject) come from the configuration
(:meth:`Auth.ensure_role_token`: a newly configured one replaces every live one of its
role) or are generated at first start; ``councilcast/routes/tokens.py`` rotates and revokes
them through the API.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from aiohttp import web

from councilcast.errors import AuthError
from councilcast.storage import Database
from councilcast.stores import core as tokens
from councilcast.stores.core import TokenRecord

__all__ = ["Auth", "TokenRecord", "check_role", "insert_token", "hash_token", "new_token", "bearer"]

log = logging.getLogger(__name__)

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


def insert_token(conn, role: str, subject: str | None = None, label: str | None = None,
                 token: str | None = None) -> tuple[str, TokenRecord]:
    """Create a token inside a write transaction; returns (plain token, record)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    token = token or new_token()
    return token, tokens.insert_token(conn, role, subject, label, hash_token(token), time.time())


def check_role(rec: TokenRecord | None, roles: tuple[str, ...], subject: str | None = None) -> TokenRecord:
    """The rule of every token check: ``rec`` (None: unknown or revoked) may act as one of ``roles``.

    401 for an unknown token, 403 for a valid token of another role or subject. Used by
    :meth:`Auth.require` and by the count path, which reads the tokens of a whole batch on the
    writer's connection, in the transaction that records the counts.
    """
    if rec is None:
        raise AuthError("unauthorized", "unknown or revoked token", invalid_token=True)
    if rec.role not in roles or (subject is not None and rec.subject != subject):
        raise AuthError("forbidden", f"this token may not do that (needs {' or '.join(roles)})")
    return rec


CACHE_TTL = 2.0
"""Seconds a token lookup is trusted without reading the database again: the longest a
token revoked through another process still works here."""


class Auth:
    """Checks bearer tokens against the ``tokens`` table."""

    def __init__(self, db: Database, *, cache_ttl: float = CACHE_TTL, clock=time.monotonic):
        self.db = db
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[TokenRecord | None, float]] = {}  # hash -> (record, expires)

    async def issue(self, role: str, subject: str | None = None, label: str | None = None,
                    token: str | None = None) -> tuple[str, TokenRecord]:
        return await self.db.write(lambda c: insert_token(c, role, subject, label, token))

    async def revoke(self, *, token_id: str | None = None, role: str | None = None,
                     subject: str | None = None) -> int:
        """Revoke one token by id, or every live token of (role, subject). Returns how many."""
        n = await self.db.write(lambda c: tokens.revoke_tokens(c, time.time(), token_id=token_id, role=role,
                                                               subject=subject))
        self._cache.clear()
        return n

    async def rotate(self, role: str, subject: str | None, label: str | None = None) -> tuple[str, TokenRecord]:
        """Revoke the live tokens of (role, subject) and issue a new one, in one transaction."""
        def do(conn):
            tokens.revoke_tokens(conn, time.time(), role=role, subject=subject)
            return insert_token(conn, role, subject, label)
        out = await self.db.write(do)
        self._cache.clear()
        return out

    async def lookup(self, token: str) -> TokenRecord | None:
        h = hash_token(token)
        now = self._clock()
        hit = self._cache.get(h)
        if hit is not None and hit[1] > now:
            return hit[0]
        rec = (await self.db.read(lambda c: tokens.live_tokens(c, [h]))).get(h)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[h] = (rec, now + self.cache_ttl)
        return rec

    async def require(self, request: web.Request, *roles: str, subject: str | None = None) -> TokenRecord:
        """The caller's token record if it has one of ``roles`` (and ``subject`` when given).

        401 without a token or with an unknown one; 403 with a valid token of another role.
        """
        token = bearer(request)
        if token is None:
            raise AuthError("unauthorized", "a bearer token is required")
        return check_role(await self.lookup(token), roles, subject)

    async def live(self, roles: tuple[str, ...]) -> list[dict]:
        """The live tokens of ``roles`` (id, role, subject, label, created_at; never a hash)."""
        return await self.db.read(lambda c: tokens.list_live_tokens(c, roles))

    def ensure_role_token(self, role: str, configured: str | None) -> str | None:
        """At start-up: make the role's own token (the one with no subject) the configured one.

        - ``configured`` and new to this database: every live token of ``role`` with no
          subject is revoked (the previously configured one, the one generated at first
          start, one rotated through ``POST /api/tokens/{role}/rotate``) and the configured
          one registered, in one transaction. Setting a new ``COUNCILCAST_*_TOKEN`` is
          therefore a rotation. Tokens of the role issued for a subject (a studio token for
          one channel) are left alone: they are rotated and revoked per channel.
        - ``configured`` and live: nothing changes.
        - ``configured`` but revoked since (rotated or revoked through the API): it is never
          brought back; a warning is logged and the role keeps whatever token is live (the
          rotated one), or none until a new one is configured.
        - ``configured`` is the token of another role: refused (``ValueError``), start-up stops.
        - not configured: when the role has no live token with no subject, one is generated
          and returned so that the CLI prints it once; otherwise None.
        """
        def do(conn):
            tokens.lock_token_setup(conn)  # processes starting together take turns here
            if configured:
                h = hash_token(configured)
                known = tokens.token_by_hash(conn, h)
                if known is None:
                    n = tokens.revoke_tokens(conn, time.time(), role=role, subject=None)
                    insert_token(conn, role, None, "configured", configured)
                    if n:
                        log.info("new configured %s token: %d previous token(s) of the role revoked", role, n)
                    return None
                rec, revoked_at = known
                if rec.role != role or rec.subject is not None:
                    raise ValueError(f"the configured {role} token is the token of another role or subject")
                if revoked_at is not None:
                    log.warning("the configured %s token was revoked (rotated or revoked through the API) and "
                                "stays revoked; set a new one to replace the role's live token", role)
                return None
            if not tokens.has_live_token(conn, role=role):
                token, _ = insert_token(conn, role, None, "generated at first start")
                return token
            return None
        return self.db.write_sync(do)

"""One error design for the whole application.

Every refusal carries a ``field`` (what is wrong, ``None`` for the request as a whole), a
``reason`` (why) and a ``kind``. The domains raise their own errors with these three
attributes (:class:`voting.rules.VotingError`, :class:`broadcast.errors.BroadcastError`,
:class:`planfactory.errors.PlanError`) and know nothing of HTTP; :data:`KIND_STATUS` is the
one place where a kind becomes a status. The application's own refusals about the HTTP
request itself (a missing token, a body too large, the wrong content type) are
:class:`ApiError`, which carries its status directly. The middleware in
:mod:`councilcast.middleware` renders both as ``{"error": {"field", "reason"}}``; routes
have no try/except for either. Any other exception is a bug and stays a 500.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import multiprocessing
import math
import re
import sys

from aiohttp import web

from assembly.sessions import SessionError
from broadcast.errors import BroadcastError
from planfactory.errors import PlanError, SolverError
from voting.rules import VotingError

__all__ = ["ApiError", "AuthError", "DOMAIN_ERRORS", "KIND_STATUS", "status_for", "error_response", "error_body", "parse_json",
           "read_body", "read_json"]

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1 << 20


class ApiError(Exception):
    """A request the server refuses; ``status`` is a 4xx."""

    def __init__(self, status: int, field: str | None, reason: str, headers: dict | None = None):
        super().__init__(f"{status} {field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason
        self.headers = headers or {}


def error_body(field: str | None, reason: str) -> dict:
    return {"error": {"field": field, "reason": reason}}


class AuthError(Exception):
    """A bearer token missing, unknown or revoked (``unauthorized``), or of another role
    (``forbidden``). The ``WWW-Authenticate`` challenge follows RFC 6750: ``error="invalid_token"``
    only when a token was sent and is not valid."""

    field = "Authorization"

    def __init__(self, kind: str, reason: str, *, invalid_token: bool = False):
        super().__init__(f"Authorization: {reason}")
        self.kind = kind
        self.reason = reason
        self.headers = {}
        if kind == "unauthorized":
            challenge = 'Bearer realm="councilcast"' + (', error="invalid_token"' if invalid_token else "")
            self.headers["WWW-Authenticate"] = challenge


DOMAIN_ERRORS: tuple[type[Exception], ...] = (VotingError, BroadcastError, PlanError, SolverError, SessionError, AuthError)
"""The refusals that carry ``field``, ``reason`` and ``kind`` (the domains', and :class:`AuthError`)."""

KIND_STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "unsupported": 406,
    "conflict": 409,
    "unprocessable": 422,
    "unavailable": 503,
}
"""The only mapping from a refusal's kind to an HTTP status."""



def status_for(exc: Exception) -> int:
    """The HTTP status of a domain error (by its ``kind``) or of an :class:`ApiError`."""
    if isinstance(exc, ApiError):
        return exc.status
    return KIND_STATUS[exc.kind]


def error_response(exc: Exception, headers: dict | None = None) -> web.Response:
    """The JSON response for an :class:`ApiError` or a domain error."""
    if isinstance(exc, ApiError):
        return web.json_response(error_body(exc.field, exc.reason), status=exc.status,
                                 headers={**exc.headers, **(headers or {})})
    out = {**getattr(exc, "headers", {}), **(headers or {})}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        out["Retry-After"] = str(retry_after)
    return web.json_response(error_body(exc.field, exc.reason), status=KIND_STATUS[exc.kind], headers=out)


async def read_body(request: web.Request, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The whole request body, or a 413 as soon as it passes ``max_bytes``.

    ``StreamReader.read(n)`` returns what has arrived so far, not n bytes, so we loop
    until the end of the stream.
    """
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, None, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class _Unrepresentable:
    """Stands in for a number no IEEE 754 double holds (``1e999``, a 400-digit integer) until
    the objects around it have told its path (json builds objects inside out)."""

    __slots__ = ("path",)

    def __init__(self, path: tuple = ()):
        self.path = path


def _int(text: str):
    v = int(text)
    return v if abs(v) <= sys.float_info.max else _Unrepresentable()


def _float(text: str):
    v = float(text)
    return v if math.isfinite(v) else _Unrepresentable()


def _bad_path(value) -> tuple | None:
    if isinstance(value, _Unrepresentable):
        return value.path
    if isinstance(value, list):
        for i, item in enumerate(value):
            p = _bad_path(item)
            if p is not None:
                return (i, *p)
    return None


def _object(pairs: list) -> dict | _Unrepresentable:
    for key, value in pairs:
        p = _bad_path(value)
        if p is not None:
            return _Unrepresentable((key, *p))
    return dict(pairs)


def _field(path: tuple) -> str | None:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


# Only bodies with a run of 309 digits or a 3-digit exponent can hold such a number; the others
# take json's fast path.
_MAYBE_HUGE = re.compile(rb"\d{309}|[eE][+]?0*\d{3}")


def parse_json(raw: bytes):
    """Parse a JSON body, or raise a 400 :class:`ApiError`: invalid JSON, the non-standard
    ``NaN``/``Infinity`` literals (Python's json accepts them), nesting too deep for the
    parser (``RecursionError``) and numbers beyond a double's range (every ``float()`` of
    them downstream would raise ``OverflowError`` or give ``inf``; RFC 8259 section 6) are
    all the client's fault, never a 500. The last names the field, e.g. ``growth.years``."""
    raw = raw or b"null"
    try:
        if not _MAYBE_HUGE.search(raw):
            data = json.loads(raw, parse_constant=_no_constant)
            path = None
        else:
            data = json.loads(raw, parse_constant=_no_constant, parse_int=_int, parse_float=_float,
                              object_pairs_hook=_object)
            path = _bad_path(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, None, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, None, "body is not valid JSON: nested too deeply") from None
    if path is not None:
        raise ApiError(400, _field(path), "number out of range (larger than about 1.8e308)")
    if _MAYBE_SURROGATE.search(raw):
        path = _surrogate_path(data)
        if path is not None:
            raise ApiError(400, _field(path) or "body", "a string holds a lone surrogate (\\ud800-\\udfff): "
                                                       "not Unicode text, it cannot be stored")
    return data


# Only a \\uD800-\\uDFFF escape can put a surrogate in a parsed string (raw UTF-8 cannot encode one).
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _surrogate_path(value, path: tuple = ()) -> tuple | None:
    """The path of the first string (key or value) that UTF-8 cannot encode, or None.

    A pair of escapes that forms one character decodes to that character and passes; a lone
    half stays a surrogate, which every later ``encode()`` (SQLite, the hash of a record)
    would refuse with ``UnicodeEncodeError`` deep inside a batched write.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if _surrogate_path(k) is not None:
                return (*path, "(key)") if not path else path
            found = _surrogate_path(v, (*path, k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _surrogate_path(v, (*path, i))
            if found is not None:
                return found
    return None


# Bodies larger than this are parsed in a worker process, not on the event loop. Not a
# thread: json's C parser holds the GIL for the whole parse (0.6 s for 14 MiB of small
# numbers), so a thread would stall the loop just the same; the loop only unpickles the
# result (about five times faster than parsing).
OFF_LOOP_BYTES = 64 << 10
_parser_pool: concurrent.futures.ProcessPoolExecutor | None = None


def _parse_in_worker(raw: bytes):
    """:func:`parse_json` in the worker: a refusal comes back as a value (ApiError's own
    arguments do not survive pickling), anything else is a bug and propagates."""
    try:
        return True, parse_json(raw)
    except ApiError as exc:
        return False, (exc.status, exc.field, exc.reason)


def shutdown_parser() -> None:
    """Stop the parser's worker process (the app's cleanup calls it; so does interpreter exit)."""
    global _parser_pool
    if _parser_pool is not None:
        _parser_pool.shutdown(wait=True, cancel_futures=True)
        _parser_pool = None


atexit.register(shutdown_parser)  # a pool left to the interpreter's teardown prints a traceback


async def _parse_off_loop(raw: bytes):
    global _parser_pool
    if _parser_pool is None:  # spawned, not forked: the server has threads (writer, encoders)
        _parser_pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        ok, value = await asyncio.get_running_loop().run_in_executor(_parser_pool, _parse_in_worker, raw)
    except concurrent.futures.BrokenExecutor:
        _parser_pool = None  # the worker died (killed, out of memory): the next body starts a new one
        raise
    if not ok:
        raise ApiError(*value)
    return value


async def read_json(request: web.Request, *, max_bytes: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON object body, or an :class:`ApiError` naming what is wrong with it.

    A body larger than :data:`OFF_LOOP_BYTES` is parsed in a worker process, so that the
    event loop keeps answering while megabytes are parsed."""
    ctype = request.content_type
    if ctype not in ("application/json", "", "application/octet-stream", "text/plain"):
        raise ApiError(415, None, f"expected application/json, got {ctype}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, None, f"body larger than {max_bytes} bytes")
    raw = await read_body(request, max_bytes)
    data = await _parse_off_loop(raw) if len(raw) > OFF_LOOP_BYTES else parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(400, None, "body must be a JSON object")
    return data

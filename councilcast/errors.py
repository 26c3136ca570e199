"""JSON errors for the API, HTML for pages.

Every rejected API request answers with a 4xx and ``{"error": {"field": ..., "reason": ...}}``
naming the offending field (``null`` when the request as a whole is wrong). Routes raise
:class:`ApiError`; the middleware turns it, aiohttp's own HTTP errors, and any unexpected
exception into that shape, so no handler needs its own try/except for the format.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys

from aiohttp import web

__all__ = ["ApiError", "error_middleware", "error_body", "parse_json", "read_body", "read_json"]

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

    def response(self) -> web.Response:
        return web.json_response(error_body(self.field, self.reason), status=self.status, headers=self.headers)


def error_body(field: str | None, reason: str) -> dict:
    return {"error": {"field": field, "reason": reason}}


def _wants_json(request: web.Request) -> bool:
    path = request.path
    if path.startswith(("/api/", "/whip/", "/whep/", "/ws")):
        return True
    return "application/json" in request.headers.get("Accept", "") and "text/html" not in request.headers.get(
        "Accept", ""
    )


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if _wants_json(request):
            reason = exc.reason if exc.status != 404 else f"no such resource: {request.path}"
            if exc.text and exc.status not in (404, 405) and not exc.text.startswith(f"{exc.status}:"):
                reason = exc.text
            return web.json_response(error_body(None, reason), status=exc.status, headers=_keep_headers(exc))
        if exc.status == 404:
            from councilcast.pages import render

            return render(request, "404.html", {"path": request.path}, status=404)
        raise
    except Exception:  # a bug: log it, answer without leaking internals
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json(request):
            return web.json_response(error_body(None, "internal error"), status=500)
        return web.Response(status=500, text="internal error")


def _keep_headers(exc: web.HTTPException) -> dict:
    keep = {}
    for name in ("Allow", "Retry-After", "WWW-Authenticate", "Location"):
        if name in exc.headers:
            keep[name] = exc.headers[name]
    return keep


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
            return json.loads(raw, parse_constant=_no_constant)
        data = json.loads(raw, parse_constant=_no_constant, parse_int=_int, parse_float=_float,
                          object_pairs_hook=_object)
        path = _bad_path(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, None, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, None, "body is not valid JSON: nested too deeply") from None
    if path is not None:
        raise ApiError(400, _field(path), "number out of range (larger than about 1.8e308)")
    return data


async def read_json(request: web.Request, *, max_bytes: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON object body, or an :class:`ApiError` naming what is wrong with it."""
    ctype = request.content_type
    if ctype not in ("application/json", "", "application/octet-stream", "text/plain"):
        raise ApiError(415, None, f"expected application/json, got {ctype}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, None, f"body larger than {max_bytes} bytes")
    data = parse_json(await read_body(request, max_bytes))
    if not isinstance(data, dict):
        raise ApiError(400, None, "body must be a JSON object")
    return data

"""JSON errors for the API, HTML for pages.

Every rejected API request answers with a 4xx and ``{"error": {"field": ..., "reason": ...}}``
naming the offending field (``null`` when the request as a whole is wrong). Routes raise
:class:`ApiError`; the middleware turns it, aiohttp's own HTTP errors, and any unexpected
exception into that shape, so no handler needs its own try/except for the format.
"""

from __future__ import annotations

import json
import logging

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


def parse_json(raw: bytes):
    """Parse a JSON body, or raise a 400 :class:`ApiError`: invalid JSON, the non-standard
    ``NaN``/``Infinity`` literals (Python's json accepts them) and nesting too deep for the
    parser (``RecursionError``) are all the client's fault, never a 500."""
    try:
        return json.loads(raw or b"null", parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, None, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, None, "body is not valid JSON: nested too deeply") from None


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

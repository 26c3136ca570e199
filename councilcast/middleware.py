"""The error middleware: every refusal rendered in the one shape, every bug a 500.

Domain errors and :class:`~councilcast.errors.ApiError` become ``{"error": {"field",
"reason"}}`` with the status of :func:`councilcast.errors.status_for`; aiohttp's own HTTP
errors take the same shape on API paths; an unknown page is the HTML 404 page. Anything
else (a ``KeyError`` from a bug, say) is logged and answered with a 500 that leaks nothing:
a bug is never passed off as the client's fault.

The same middleware bounds how long a request's body may take to arrive
(``COUNCILCAST_BODY_TIMEOUT``: 408 and the connection closed) and puts the security
headers on every answer it sees (:data:`SECURITY_HEADERS`: no framing, a Content Security
Policy that allows this server's own scripts and the hashes of the templates' few inline
ones, no Referer sent anywhere).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re

from aiohttp import web

from councilcast.appkeys import CONFIG
from councilcast.errors import DOMAIN_ERRORS, ApiError, error_body, error_response
from councilcast.pages import render
from councilcast.paths import TEMPLATES_DIR
from councilcast.storage import MAX_TRIES, gave_way

__all__ = ["error_middleware", "cors_headers", "SECURITY_HEADERS", "content_security_policy"]

log = logging.getLogger(__name__)

MEDIA_PATHS = ("/whip/", "/whep/")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch, Retry-After",
}


def cors_headers(request: web.Request) -> dict:
    """WHIP and WHEP answer browsers of any origin (players are often hosted elsewhere)."""
    return CORS if request.path.startswith(MEDIA_PATHS) else {}


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _inline_script_hashes() -> list[str]:
    """CSP hashes of the templates' inline scripts (each is a constant line such as
    ``CouncilRound.mountAll();``), so that ``script-src`` needs no ``'unsafe-inline'``."""
    out = set()
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        for body in _INLINE_SCRIPT.findall(path.read_text()):
            if "{{" in body or "{%" in body:  # a templated script would have no fixed hash
                log.warning("inline script with template code in %s: move it to static/js", path.name)
                continue
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            out.add(f"'sha256-{digest}'")
    return sorted(out)


def content_security_policy() -> str:
    """The Content Security Policy of every page.

    Scripts, styles, images, sockets and fetches come from this server only (``connect-src
    'self'`` covers the page's own ``ws://`` too); the only inline scripts allowed are the
    templates' own, by hash; ``style`` attributes are allowed (the plan tables use them);
    QR codes are inline SVG; a channel's caption track (``captions_url``) may be on another
    host; nothing may frame a page (``frame-ancestors 'none'``) and forms post here only.

    ``'unsafe-eval'`` stays for now: no script of ours evaluates a string (no ``eval``, ``new
    Function`` or string ``setTimeout``), but Playwright's ``wait_for_function`` evaluates its
    predicate in the page, and the browser tests wait that way (docs/decisions.md, issue 10).
    """
    scripts = " ".join(["'self'", *_inline_script_hashes(), "'unsafe-eval'"])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "style-src 'self'", "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:", "media-src 'self' blob: https: http:", "connect-src 'self'",
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ])


SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
"""On every answer: a ballot page's URL (``/ballot?code=...``) never leaves in a Referer, and
no other site can frame a page to trick a click."""


def _secure(resp: web.StreamResponse) -> web.StreamResponse:
    if not resp.prepared:  # a WebSocket or a stream the handler already started has sent its head
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
    return resp


def _wants_json(request: web.Request) -> bool:
    path = request.path
    if path.startswith(("/api/", "/whip/", "/whep/", "/ws")):
        return True
    return "application/json" in request.headers.get("Accept", "") and "text/html" not in request.headers.get(
        "Accept", ""
    )


class BodyTimeout(ApiError):
    """The body did not arrive within ``COUNCILCAST_BODY_TIMEOUT`` seconds."""

    def __init__(self, seconds: float):
        super().__init__(408, "body", f"the body did not arrive within {seconds:g} s")


def _body_deadline(request: web.Request) -> asyncio.TimerHandle | None:
    """Past the deadline, the handler's pending read of the body raises :class:`BodyTimeout`."""
    if not request.body_exists or request.content.is_eof():
        return None
    config = request.app.get(CONFIG)
    seconds = config.body_timeout if config is not None else 60.0

    def expire():
        if not request.content.is_eof():
            request.content.set_exception(BodyTimeout(seconds))

    return asyncio.get_running_loop().call_later(seconds, expire)


@web.middleware
async def error_middleware(request: web.Request, handler):
    deadline = _body_deadline(request)
    try:
        return _secure(await _handle(request, handler))
    except web.HTTPException as exc:  # redirects and the HTML errors aiohttp renders itself
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    finally:
        if deadline is not None:
            deadline.cancel()


async def _handle(request: web.Request, handler):
    try:
        return await handler(request)
    except BodyTimeout as exc:
        resp = error_response(exc, cors_headers(request))
        resp.force_close()  # the rest of the body is not worth waiting for
        return resp
    except (ApiError, *DOMAIN_ERRORS) as exc:
        return error_response(exc, cors_headers(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if _wants_json(request):
            reason = exc.reason if exc.status != 404 else f"no such resource: {request.path}"
            if exc.text and exc.status not in (404, 405) and not exc.text.startswith(f"{exc.status}:"):
                reason = exc.text
            return web.json_response(error_body(None, reason), status=exc.status,
                                     headers={**_keep_headers(exc), **cors_headers(request)})
        if exc.status == 404:
            return render(request, "404.html", {"path": request.path}, status=404)
        raise
    except Exception as exc:  # a bug: log it, answer without leaking internals
        if gave_way(exc):  # a deadlock lost three times over (storage.MAX_TRIES): nothing written
            log.warning("%s %s gave way in a deadlock %d times; answered 503", request.method, request.path,
                        MAX_TRIES)
            return web.json_response(error_body(None, "the database is busy with a conflicting write; nothing "
                                                      "of this request was written: send it again"),
                                     status=503, headers={"Retry-After": "1", **cors_headers(request)})
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

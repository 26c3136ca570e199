"""The error middleware: every refusal rendered in the one shape, every bug a 500.

Domain errors and :class:`~councilcast.errors.ApiError` become ``{"error": {"field",
"reason"}}`` with the status of :func:`councilcast.errors.status_for`; aiohttp's own HTTP
errors take the same shape on API paths; an unknown page is the HTML 404 page. Anything
else (a ``KeyError`` from a bug, say) is logged and answered with a 500 that leaks nothing:
a bug is never passed off as the client's fault.
"""

from __future__ import annotations

import logging

from aiohttp import web

from councilcast.errors import DOMAIN_ERRORS, ApiError, error_body, error_response
from councilcast.pages import render

__all__ = ["error_middleware", "cors_headers"]

log = logging.getLogger(__name__)

MEDIA_PATHS = ("/whip/", "/whep/")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch, Retry-After",
}


def cors_headers(request: web.Request) -> dict:
    """WHIP and WHEP answer browsers of any origin (players are often hosted elsewhere)."""
    return CORS if request.path.startswith(MEDIA_PATHS) else {}


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

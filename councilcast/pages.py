"""Rendering HTML pages with jinja2 (autoescaped; every page extends ``base.html``)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from councilcast import __version__
from councilcast.appkeys import CONFIG, JINJA
from councilcast.paths import TEMPLATES_DIR

__all__ = ["make_environment", "render", "public_base"]

NAV = [
    ("/live", "Live"),
    ("/sessions", "Sessions"),
    ("/rounds", "Votes"),
    ("/plan", "Plan"),
    ("/assemblies", "Assemblies"),
    ("/secretariat", "Secretariat"),
]


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(version=__version__)
    return env


def _nav(app: web.Application) -> list[tuple[str, str]]:
    """The NAV entries whose page exists in this app (areas add pages as they grow)."""
    known = {r.canonical for r in app.router.resources()}
    return [(href, label) for href, label in NAV if href in known]


def render(request: web.Request, template: str, context: dict | None = None, *, status: int = 200,
           headers: dict | None = None) -> web.Response:
    env = request.app[JINJA]
    ctx = {"request": request, "path": request.path, "nav": _nav(request.app)}
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


def public_base(request: web.Request) -> str:
    """The server's public address, for links in published answers (``COUNCILCAST_PUBLIC_URL`` wins)."""
    cfg = request.app[CONFIG]
    return cfg.public_url.rstrip("/") if cfg.public_url else f"{request.scheme}://{request.host}"

"""``GET /api/health`` and ``GET /api/openapi.json``."""

import importlib

from aiohttp import web

from councilcast import __version__
from councilcast.routes import AREAS
from councilcast.appkeys import CONFIG, DB, STARTED_AT
from councilcast.services.health import health as health_report

routes = web.RouteTableDef()

OPENAPI = {
    "/api/health": {
        "get": {
            "summary": "Liveness and what this server runs on",
            "responses": {"200": {"description": "status, version, database (SQLite: its path; PostgreSQL: "
                                                 "its URL without the password, as {\"engine\": \"postgresql\", "
                                                 "\"url\": \"postgresql://cc:***@db/councilcast\"})",
                                  "content": {"application/json": {"example": {
                                      "status": "ok", "version": __version__,
                                      "database": {"engine": "sqlite", "path": "/srv/councilcast.db"}}}}}},
        }
    },
    "/api/openapi.json": {"get": {"summary": "This OpenAPI description", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
}


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(await health_report(app[DB], app[STARTED_AT], app[CONFIG].demo))


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    paths: dict = {}
    for name in AREAS:
        for path, ops in getattr(importlib.import_module(name), "OPENAPI", {}).items():
            paths.setdefault(path, {}).update(ops)  # two areas may serve one path (GET and POST)
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "councilcast", "version": __version__,
                 "description": "Errors: a 4xx with {\"error\": {\"field\": ..., \"reason\": ...}}. "
                                "Tokens: Authorization: Bearer <token>."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": dict(sorted(paths.items())),
    }
    return web.json_response(doc)


def setup(app: web.Application) -> None:
    app.add_routes(routes)

"""Routes of the broadcast area (to be built; see docs/architecture.md)."""

from aiohttp import web

OPENAPI: dict = {}


def setup(app: web.Application) -> None:
    pass

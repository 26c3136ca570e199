"""Routes for proposals, variants and summaries (to be built)."""

from aiohttp import web

OPENAPI: dict = {}


def setup(app: web.Application) -> None:
    pass

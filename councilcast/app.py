"""The application factory: config -> a ready aiohttp app with every area mounted."""

from __future__ import annotations

import importlib
import logging
import time

from aiohttp import web

from councilcast import gcstats
from councilcast.appkeys import AUTH, CONFIG, DB, GENERATED_TOKENS, JINJA, STARTED_AT, STARTUP_NOTES
from councilcast.auth import Auth
from councilcast.config import Config
from councilcast.errors import shutdown_parser
from councilcast.middleware import error_middleware
from councilcast.pages import make_environment
from councilcast.paths import static_dir
from councilcast.routes import AREAS
from councilcast.storage import Database

__all__ = ["create_app", "open_database"]

log = logging.getLogger(__name__)



def open_database(config: Config) -> Database:
    db = Database(config.db)
    db.open()
    return db


def create_app(config: Config | None = None, db: Database | None = None) -> web.Application:
    """Build the app. The database opens here (migrations run before the first request)."""
    config = config or Config.from_env()
    gcstats.install()  # the collector's pauses, in /api/broadcast/stats
    app = web.Application(middlewares=[error_middleware], client_max_size=4 << 20)
    app[CONFIG] = config
    app[DB] = db or open_database(config)
    app[AUTH] = Auth(app[DB])
    app[JINJA] = make_environment()
    app[STARTED_AT] = time.time()
    app[GENERATED_TOKENS] = {}
    app[STARTUP_NOTES] = []
    # A newly configured token replaces the role's live one (Auth.ensure_role_token).
    try:
        for role, configured in (("secretariat", config.secretariat_token), ("studio", config.studio_token)):
            token = app[AUTH].ensure_role_token(role, configured)
            if token:
                app[GENERATED_TOKENS][role] = token
    except BaseException:
        if db is None:  # ours to close: a refused start leaves no writer thread behind
            app[DB].close()
        raise

    async def close_db(app: web.Application):
        yield
        shutdown_parser()
        app[DB].close()

    # First in cleanup_ctx, so it closes last, after every area has stopped.
    app.cleanup_ctx.append(close_db)
    for name in AREAS:
        importlib.import_module(name).setup(app)
    app.router.add_static("/static/", static_dir(), name="static", append_version=False)
    return app

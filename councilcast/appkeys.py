"""Typed application state shared by every area (aiohttp ``web.AppKey``).

Areas define their own keys in their route modules; only what all of them use lives here.
"""

from aiohttp import web
import jinja2

from councilcast.auth import Auth
from councilcast.config import Config
from councilcast.storage import Database

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
AUTH = web.AppKey("auth", Auth)
JINJA = web.AppKey("jinja", jinja2.Environment)
STARTED_AT = web.AppKey("started_at", float)

"""Typed application state (aiohttp ``web.AppKey``): every key of the app in one place.

A route module finds its service here; services never read the app (they get what they
need in their constructor), so no service imports this module.
"""

from aiohttp import web
import jinja2

from broadcast.channels import Broadcaster
from councilcast.auth import Auth
from councilcast.config import Config
from councilcast.events import EVENTS  # defined beside the hub it types, re-exported here
from councilcast.services.broadcast import BroadcastService
from councilcast.services.council import CouncilService
from councilcast.services.delegates import DelegatesService
from councilcast.services.plan import PlanService
from councilcast.services.plan_variants import PlanVariantsService
from councilcast.services.report_back import ReportBackService
from councilcast.services.sessions import SessionService
from councilcast.services.voting import VotingService
from councilcast.storage import Database

__all__ = ["CONFIG", "DB", "AUTH", "JINJA", "STARTED_AT", "EVENTS", "VOTING", "BROADCAST", "BROADCASTER", "PLAN",
           "PLAN_VARIANTS", "SESSIONS",
           "GENERATED_TOKENS", "STARTUP_NOTES", "DELEGATES", "REPORT_BACK", "COUNCIL"]

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
AUTH = web.AppKey("auth", Auth)
JINJA = web.AppKey("jinja", jinja2.Environment)
STARTED_AT = web.AppKey("started_at", float)
VOTING = web.AppKey("voting", VotingService)
BROADCAST = web.AppKey("broadcast", BroadcastService)
BROADCASTER = web.AppKey("broadcaster", Broadcaster)
"""The live media of every channel (``app[BROADCAST].broadcaster``), for the pages that show it."""
PLAN = web.AppKey("plan", PlanService)
"""The one home of the current economy, and the solver's worker pool."""
PLAN_VARIANTS = web.AppKey("plan_variants", PlanVariantsService)
GENERATED_TOKENS = web.AppKey("generated_tokens", dict)
"""Tokens generated at first start, keyed by role; the CLI prints them once."""
SESSIONS = web.AppKey("sessions", SessionService)
STARTUP_NOTES = web.AppKey("startup_notes", list)
"""Lines the CLI prints once the server listens (the demo's "try this"); ``{base}`` is its URL."""
DELEGATES = web.AppKey("delegates", DelegatesService)
"""Mandates, terms, roll calls on agenda items, the delegate's record."""
REPORT_BACK = web.AppKey("report_back", ReportBackService)
"""The delegates' report-back sheets."""
COUNCIL = web.AppKey("council", CouncilService)
"""The Central Council: its elections by approval, its members now."""

"""The home page and the 404 page."""

from aiohttp import web

from councilcast.appkeys import BROADCAST, CONFIG, SESSIONS, VOTING
from councilcast.pages import render

OPENAPI: dict = {}

routes = web.RouteTableDef()


@routes.get("/", name="home")
async def home(request: web.Request) -> web.Response:
    app = request.app
    live = {"sessions": list(app[SESSIONS].hello()["sessions"]),
            "rounds": [r for r in app[VOTING].hello()["rounds"] if r["state"] in ("scheduled", "open", "closed")],
            "channels": [c for c in app[BROADCAST].channel_infos() if c.get("state") == "live"]}
    return render(request, "home.html", {"demo": app[CONFIG].demo, "live": live})


def setup(app: web.Application) -> None:
    app.add_routes(routes)

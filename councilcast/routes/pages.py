"""The home page and the 404 page."""

from aiohttp import web

from councilcast.appkeys import CONFIG
from councilcast.pages import render

OPENAPI: dict = {}

routes = web.RouteTableDef()


@routes.get("/", name="home")
async def home(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return render(request, "home.html", {"demo": config.demo})


def setup(app: web.Application) -> None:
    app.add_routes(routes)

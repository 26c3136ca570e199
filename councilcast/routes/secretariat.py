"""The secretariat's console: one page that drives the API with the secretariat's token.

The page is plain HTML forms; ``static/js/secretariat.js`` sends each form as JSON to the
API route it names, with the token the secretariat pasted once (kept in this browser's
localStorage, never sent anywhere but this server's API). Every action is therefore an
ordinary API call, checked and answered exactly as for any other client.
"""

from aiohttp import web

from councilcast.pages import render

OPENAPI: dict = {}

routes = web.RouteTableDef()


@routes.get("/secretariat")
async def console(request: web.Request) -> web.Response:
    return render(request, "secretariat.html")


def setup(app: web.Application) -> None:
    app.add_routes(routes)

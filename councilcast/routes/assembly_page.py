"""The assembly page, ``/assemblies/{id}``: what one General Assembly needs on its screen.

It puts side by side what the three areas offer one assembly: the Central Assembly's
session live (broadcast), the current voting round with the server-clock countdown and,
after the close, the result (voting), the assembly's delegates and their status, and the
implication cards of the assembly's own workplace for every published plan variant (plan
factory). The cards are rendered on the server, so the page reads without JavaScript.
An assembly's ``workplace`` links it to an enterprise of the economy by its id.
"""

from aiohttp import web

from councilcast.appkeys import BROADCAST, PLAN_VARIANTS, VOTING
from councilcast.pages import public_base, render
from councilcast.plan_cards import render_card

OPENAPI: dict = {}

routes = web.RouteTableDef()


@routes.get("/assemblies/{id}")
async def assembly_page(request: web.Request) -> web.Response:
    assembly = await request.app[VOTING].assembly_with_delegates(request.match_info["id"])
    if assembly is None:
        raise web.HTTPNotFound()
    channel = request.app[BROADCAST].channels.get("central")
    plan_set, cards = await request.app[PLAN_VARIANTS].workplace_cards(assembly["workplace"], public_base(request))
    return render(request, "assembly.html", {"a": assembly, "channel": channel, "plan_set": plan_set,
                                             "cards": [render_card(c) for c in cards],
                                             "viewers": request.app[BROADCAST].viewer_counts()})


@routes.get("/assemblies/{id}/room")
async def assembly_room(request: web.Request) -> web.Response:
    """One assembly's room screen: the room mode limited to the rounds it votes in."""
    assembly = await request.app[VOTING].get_assembly(request.match_info["id"])
    if assembly is None:
        raise web.HTTPNotFound()
    channels = request.app[BROADCAST].channels
    channel = channels.get("central")
    if channel is None:
        raise web.HTTPNotFound()
    companion = channels.get(channel.companion) if channel.companion else None
    return render(request, "broadcast/room.html", {"channel": channel, "companion": companion, "assembly": assembly,
                                                   "viewers": request.app[BROADCAST].viewer_counts()})


def setup(app: web.Application) -> None:
    app.add_routes(routes)

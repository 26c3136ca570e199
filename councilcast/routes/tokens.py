"""Rotate and revoke the secretariat's and the studio's tokens (secretariat token only).

- ``GET /api/tokens``: the live secretariat and studio tokens (id, role, channel, label,
  created_at; never the token nor its hash).
- ``POST /api/tokens/{role}/rotate``: revoke the role's live tokens and issue a new one,
  in one transaction; ``201 {"id", "role", "channel", "label", "token"}``, the token shown
  once. For the studio, ``{"channel": "central"}`` makes it a token for that channel only
  (it may publish there and nowhere else); without a body it is the studio's own token.
- ``DELETE /api/tokens/{role}`` (same optional body): revoke them; ``{"revoked": n}``.

Rotating or revoking the secretariat's token revokes the caller's own token as well: the
console keeps the new one; after a revocation the secretariat is locked out until a new
``COUNCILCAST_SECRETARIAT_TOKEN`` is set (or, with none set, one is generated and printed
at the next start). Clerk tokens are rotated per assembly (``/api/assemblies/{id}/token``).
"""

from __future__ import annotations

from aiohttp import web

from broadcast.channels import CHANNEL_NAME
from councilcast.appkeys import AUTH
from councilcast.errors import ApiError, read_json

__all__ = ["OPENAPI", "setup"]

ROLES = ("secretariat", "studio")

routes = web.RouteTableDef()


async def _target(request: web.Request) -> tuple[str, str | None]:
    """The (role, channel) a rotate or revoke request names, after the secretariat's token is checked."""
    await request.app[AUTH].require(request, "secretariat")
    role = request.match_info["role"]
    if role not in ROLES:
        raise ApiError(404, "role", f"no such role here: {role!r} (secretariat or studio; clerks' tokens are "
                                    "rotated at /api/assemblies/{id}/token)")
    body = await read_json(request) if request.body_exists else {}
    unknown = sorted(set(body) - {"channel"})
    if unknown:  # a misspelt "channel" must not rotate the studio's own token instead
        raise ApiError(400, unknown[0], "unknown field (only \"channel\")")
    channel = body.get("channel")
    if channel is None:
        return role, None
    if role != "studio":
        raise ApiError(400, "channel", "only a studio token is issued for a channel")
    if not isinstance(channel, str) or not CHANNEL_NAME.match(channel):
        raise ApiError(400, "channel", "a channel name is 1-40 of a-z, 0-9 and '-', starting alphanumeric")
    return role, channel


@routes.get("/api/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.require(request, "secretariat")
    live = await auth.live(ROLES)
    return web.json_response({"tokens": [{"id": t["id"], "role": t["role"], "channel": t["subject"],
                                          "label": t["label"], "created_at": t["created_at"]} for t in live]})


@routes.post("/api/tokens/{role}/rotate")
async def rotate_token(request: web.Request) -> web.Response:
    role, channel = await _target(request)
    label = f"{role} (rotated)" if channel is None else f"studio for {channel} (rotated)"
    token, rec = await request.app[AUTH].rotate(role, channel, label)
    return web.json_response({"id": rec.id, "role": role, "channel": channel, "label": rec.label, "token": token},
                             status=201)


@routes.delete("/api/tokens/{role}")
async def revoke_token(request: web.Request) -> web.Response:
    role, channel = await _target(request)
    n = await request.app[AUTH].revoke(role=role, subject=channel)
    return web.json_response({"role": role, "channel": channel, "revoked": n})


def _op(summary: str, ok: str = "200", example: dict | None = None, body: bool = False) -> dict:
    op = {"summary": summary, "security": [{"bearer": []}],
          "responses": {ok: {"description": "done", **({"content": {"application/json": {"example": example}}}
                                                      if example else {})},
                        "400": {"description": "a channel for a role other than studio, a bad channel name, "
                                               "an unknown field"},
                        "401": {"description": "missing or unknown token"},
                        "403": {"description": "not the secretariat's token"},
                        "404": {"description": "a role other than secretariat or studio"}}}
    if body:
        op["parameters"] = [{"name": "role", "in": "path", "required": True,
                             "schema": {"enum": list(ROLES)}}]
        op["requestBody"] = {"required": False,
                             "content": {"application/json": {"example": {"channel": "central"}}}}
    return op


OPENAPI: dict = {
    "/api/tokens": {"get": _op("The live secretariat and studio tokens (never the tokens themselves)",
                               example={"tokens": [{"id": "9f2c...", "role": "studio", "channel": "central",
                                                    "label": "studio for central (rotated)",
                                                    "created_at": 1767225600.0}]})},
    "/api/tokens/{role}/rotate": {"post": _op(
        "Revoke the role's live tokens and issue a new one, shown once (studio: {\"channel\"} for one channel)",
        ok="201", body=True,
        example={"id": "9f2c...", "role": "studio", "channel": "central", "label": "studio for central (rotated)",
                 "token": "..."})},
    "/api/tokens/{role}": {"delete": _op(
        "Revoke the role's live tokens (studio: {\"channel\"} for one channel's)", body=True,
        example={"role": "studio", "channel": None, "revoked": 1})},
}


def setup(app: web.Application) -> None:
    app.add_routes(routes)

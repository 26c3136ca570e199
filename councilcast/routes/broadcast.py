"""Routes of the broadcast area: WHIP ingest, WHEP playback, channels, recordings, pages.

WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) endpoints:

- ``POST /whip/{channel}`` (studio token), ``POST /whep/{channel}`` (public): an SDP offer
  in, ``201 Created`` with the answer and a ``Location`` (an unguessable session URL).
- ``DELETE`` on the session URL ends it; ``PATCH`` with ``application/trickle-ice-sdpfrag``
  adds the client's late ICE candidates (204); ICE restarts are not supported (422).
- ``OPTIONS`` answers CORS preflights with ``Accept-Post: application/sdp``.

docs/broadcast.md explains every status code and the media path behind them.

In a process of ``serve --workers N`` that holds no media (``COUNCILCAST_MEDIA_URL`` set),
every route of this module is handed to the media process as it is
(:mod:`councilcast.media_proxy`), the session URLs included, and the service only mirrors
the media process's channels for the other areas' pages (docs/deploy.md).

When process 0 of ``serve --workers N`` holds the media (``Config.extra`` has
``worker_index`` and ``worker_sockets``), every other process is a fan-out process: it still
hands the broadcast area to process 0, but answers ``POST /whep/{channel}`` itself from its
relay copy of the channel, and ``/api/broadcast/stats`` with its own figures (``?worker=<j>``:
process j's). Session ids start with ``w<i>.``: in every process a session URL
(``PATCH``/``DELETE``/``OPTIONS``) of another process's session is forwarded to that
process's Unix socket (:func:`_by_owner`).
"""

from __future__ import annotations

import logging
import math
import re
import time

import aiohttp
from aiohttp import web

from broadcast import chapters as chapter_track
from broadcast.captions import Captions
from broadcast.channels import SessionLimits
from broadcast.errors import BroadcastError
from broadcast.ice import ice_addresses, listen_addresses, parse_ice_urls
from broadcast.offers import MAX_OFFER_BYTES
from broadcast.retention import Retention
from broadcast.synthetic import SIZE_LIMITS
from councilcast.appkeys import AUTH, BROADCAST, BROADCASTER, CONFIG, COUNCIL, DB, SESSIONS
from councilcast.services.broadcast import BroadcastService
from councilcast.errors import ApiError, read_json
from councilcast.media_proxy import PROGRAMME_HEADER, MediaProxy, client_address, copy_of, from_a_worker
from councilcast.middleware import CORS, cors_headers
from councilcast.pages import render

__all__ = ["setup", "OPENAPI"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


# -- helpers ---------------------------------------------------------------------------
async def _read_sdp(request: web.Request, content_type: str = "application/sdp") -> str:
    if request.content_type != content_type:
        raise ApiError(415, "Content-Type", f"expected {content_type}, got {request.content_type or 'nothing'}",
                       headers=CORS)
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        raise ApiError(413, "body", f"an SDP body holds at most {MAX_OFFER_BYTES} bytes", headers=CORS)
    raw = await request.content.read(MAX_OFFER_BYTES + 1)
    if len(raw) > MAX_OFFER_BYTES:
        raise ApiError(413, "body", f"an SDP body holds at most {MAX_OFFER_BYTES} bytes", headers=CORS)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body", "the SDP is not UTF-8 text", headers=CORS) from None


def _ice_links(request: web.Request) -> list[str]:
    """Every configured ICE server, STUN and TURN, for the browser (WHIP/WHEP Link headers)."""
    return [f'<{u.raw}>; rel="ice-server"' for u in parse_ice_urls(request.app[CONFIG].ice_servers)]


def _created(request: web.Request, location: str, answer: str) -> web.Response:
    headers = {**CORS, "Location": location, "Accept-Patch": "application/trickle-ice-sdpfrag"}
    resp = web.Response(status=201, text=answer, content_type="application/sdp", headers=headers)
    for link in _ice_links(request):
        resp.headers.add("Link", link)
    return resp


def _options(methods: str) -> web.Response:
    return web.Response(status=204, headers={
        **CORS, "Allow": methods, "Accept-Post": "application/sdp",
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "86400",
    })


def _not_allowed(request: web.Request, allow: str):
    raise ApiError(405, None, f"{request.method} is not allowed here (allowed: {allow})",
                   headers={**CORS, "Allow": allow})


def _svc(request: web.Request) -> BroadcastService:
    return request.app[BROADCAST]


# -- WHIP --------------------------------------------------------------------------------
@routes.route("OPTIONS", "/whip/{channel}")
@routes.route("OPTIONS", "/whep/{channel}")
async def endpoint_options(request: web.Request) -> web.Response:
    return _options("OPTIONS, POST")


@routes.route("OPTIONS", "/whip/{channel}/{session}")
@routes.route("OPTIONS", "/whep/{channel}/{session}")
async def session_options(request: web.Request) -> web.Response:
    return _options("OPTIONS, PATCH, DELETE")


# Bodies of the channel routes: a few fields each (a caption cue holds at most a few hundred
# characters), so nothing near the application's 1 MiB default for JSON.
CHANNEL_BODY_BYTES = 16 << 10


async def _require_studio(request: web.Request, *roles: str) -> None:
    """A studio token (or one of ``roles``); a studio token issued for a channel (its subject)
    acts on that channel only: WHIP, the camera, captions, taking it off air."""
    rec = await request.app[AUTH].require(request, "studio", *roles)
    if rec.role == "studio" and rec.subject is not None and rec.subject != request.match_info["channel"]:
        raise ApiError(403, "Authorization", f"this studio token is for channel {rec.subject!r}",
                       headers=cors_headers(request))


async def _open_session(request: web.Request, protocol: str) -> web.Response:
    """WHIP or WHEP POST: the channel must exist, then the offer is read and answered."""
    name = request.match_info["channel"]
    _svc(request).channel(name)  # an unknown channel is a 404 before the body is read
    offer = await _read_sdp(request)
    copy = protocol == "whep" and copy_of(request) is not None  # a fan-out process's pull, no viewer
    session, answer = await _svc(request).open_session(protocol, name, offer, client_address(request), copy=copy)
    resp = _created(request, f"/{protocol}/{name}/{session.id}", answer)
    if copy:  # which programme the copy is of: the puller drops it when process 0 has another on air
        resp.headers[PROGRAMME_HEADER] = repr(_svc(request).channel(name).live_since)
    return resp


@routes.post("/whip/{channel}")
async def whip_post(request: web.Request) -> web.Response:
    await _require_studio(request)
    return await _open_session(request, "whip")


@routes.post("/whep/{channel}")
async def whep_post(request: web.Request) -> web.Response:
    return await _open_session(request, "whep")


async def _session(request: web.Request, kind: str):
    if kind == "whip":
        await _require_studio(request)
    s = _svc(request).session(request.match_info["session"], kind)
    if s.channel != request.match_info["channel"]:
        raise ApiError(404, None, "no such session (ended, or never existed)", headers=CORS)
    return s


@routes.delete("/whip/{channel}/{session}")
async def whip_delete(request: web.Request) -> web.Response:
    s = await _session(request, "whip")
    await _svc(request).end_session(s.id)
    return web.Response(status=200, headers=CORS)


@routes.delete("/whep/{channel}/{session}")
async def whep_delete(request: web.Request) -> web.Response:
    s = await _session(request, "whep")
    await _svc(request).end_session(s.id)
    return web.Response(status=200, headers=CORS)


async def _patch(request: web.Request, kind: str) -> web.Response:
    s = await _session(request, kind)
    if request.headers.get("If-Match") is not None:
        raise ApiError(422, "If-Match", "ICE restarts are not supported: start a new session", headers=CORS)
    frag = await _read_sdp(request, "application/trickle-ice-sdpfrag")
    await _svc(request).trickle(s, frag)
    return web.Response(status=204, headers=CORS)


@routes.patch("/whip/{channel}/{session}")
async def whip_patch(request: web.Request) -> web.Response:
    return await _patch(request, "whip")


@routes.patch("/whep/{channel}/{session}")
async def whep_patch(request: web.Request) -> web.Response:
    return await _patch(request, "whep")


@routes.get("/whip/{channel}")
@routes.get("/whep/{channel}")
async def endpoint_get(request: web.Request):
    _not_allowed(request, "OPTIONS, POST")


@routes.get("/whip/{channel}/{session}")
@routes.get("/whep/{channel}/{session}")
async def session_get(request: web.Request):
    _not_allowed(request, "OPTIONS, PATCH, DELETE")


# -- channels API --------------------------------------------------------------------------

@routes.get("/api/channels")
async def channels_list(request: web.Request) -> web.Response:
    return web.json_response({"channels": _svc(request).channel_infos()})


@routes.get("/api/channels/{channel}")
async def channel_get(request: web.Request) -> web.Response:
    name = request.match_info["channel"]
    info = _svc(request).channel_info(name)
    info["recordings"] = await _svc(request).recordings(name)
    return web.json_response(info)


@routes.put("/api/channels/{channel}")
async def channel_put(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    name = request.match_info["channel"]
    body = await read_json(request, max_bytes=CHANNEL_BODY_BYTES)
    for key in ("title", "companion", "captions_url"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ApiError(400, key, "must be a string or null")
    title = (body.get("title") or "").strip() or None
    if title and len(title) > 200:
        raise ApiError(400, "title", "at most 200 characters")
    captions_url = body.get("captions_url") or None
    if captions_url and not captions_url.startswith(("/", "http://", "https://")):
        raise ApiError(400, "captions_url", "must be an http(s) URL or a path on this server")
    created = await _svc(request).define_channel(name, title, body.get("companion") or None, captions_url)
    return web.json_response(_svc(request).channel_info(name), status=201 if created else 200)


@routes.post("/api/channels/{channel}/camera")
async def camera_start(request: web.Request) -> web.Response:
    """Put the synthetic camera on air (secretariat or studio)."""
    await _require_studio(request, "secretariat")
    name = request.match_info["channel"]
    body = await read_json(request, max_bytes=CHANNEL_BODY_BYTES) if request.content_length else {}
    width, height, fps = body.get("width", 1280), body.get("height", 720), body.get("fps", 30)
    limits = {**SIZE_LIMITS, "fps": (1, 60)}  # the camera's clock needs 96 pixels across
    for key, v in (("width", width), ("height", height), ("fps", fps)):
        lo, hi = limits[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ApiError(400, key, f"must be an integer in [{lo}, {hi}]")
        if key != "fps" and v % 2:
            raise ApiError(400, key, "must be even")
    _svc(request).start_camera(name, width, height, fps)
    return web.json_response(_svc(request).channel_info(name), status=201)


@routes.delete("/api/channels/{channel}/live")
async def channel_end(request: web.Request) -> web.Response:
    """Take a channel off air, whatever its source (secretariat, or a studio token for it)."""
    await _require_studio(request, "secretariat")
    name = request.match_info["channel"]
    await _svc(request).end(name)
    info = _svc(request).channel_info(name)
    return web.json_response(info)


@routes.get("/api/channels/{channel}/recordings")
async def recordings_of(request: web.Request) -> web.Response:
    name = request.match_info["channel"]
    _svc(request).channel(name)
    return web.json_response({"recordings": await _svc(request).recordings(name)})


@routes.get("/api/broadcast/stats")
async def broadcast_stats(request: web.Request) -> web.Response:
    return web.json_response(_svc(request).stats())


WORKER_OF_SESSION = re.compile(r"w(\d{1,4})\.")
"""A session id's owner, in ``serve --workers N``: ``w<i>.`` then the random part."""


# -- captions ------------------------------------------------------------------------------
_LAST_UNIX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
def _captions(request: web.Request) -> Captions:
    return _svc(request).channel_captions(request.match_info["channel"])


@routes.post("/api/channels/{channel}/captions")
async def captions_post(request: web.Request) -> web.Response:
    """A caption source posts a cue: {"text": ..., "duration": seconds (default 3)}."""
    await _require_studio(request, "secretariat")
    caps = _captions(request)
    body = await read_json(request, max_bytes=CHANNEL_BODY_BYTES)
    text, duration = body.get("text"), body.get("duration", 3.0)
    if not isinstance(text, str):
        raise ApiError(400, "text", "must be a string")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        raise ApiError(400, "duration", "must be a number of seconds")
    cue = caps.add(text, duration=float(duration))
    return web.json_response({"seq": cue.seq, "start": cue.start, "end": cue.end, "text": cue.text}, status=201)


@routes.get("/api/channels/{channel}/captions")
async def captions_get(request: web.Request) -> web.Response:
    caps = _captions(request)
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise ApiError(400, "since", "must be an integer") from None
    return web.json_response({"now": time.time(), "cues": [
        {"seq": c.seq, "start": c.start, "end": c.end, "text": c.text} for c in caps.since(since)]})


@routes.get("/api/channels/{channel}/captions.vtt")
async def captions_vtt(request: web.Request) -> web.Response:
    caps = _captions(request)
    ch = _svc(request).channel(request.match_info["channel"])
    try:
        origin = float(request.query.get("from", ch.live_since or 0))
    except ValueError:
        origin = math.nan
    if not 0 <= origin <= _LAST_UNIX_TIME:  # nan, inf and -1e308 too: cue times are offsets from it
        raise ApiError(400, "from", f"must be a Unix time in seconds, in [0, {_LAST_UNIX_TIME:.0f}]")
    return web.Response(text=caps.vtt(origin), content_type="text/vtt")


# -- recordings ----------------------------------------------------------------------------
async def _recording(request: web.Request) -> dict:
    rec = await _svc(request).recording(request.match_info["rid"])
    if rec is None:
        raise web.HTTPNotFound()
    return rec


async def _chapters(request: web.Request, rec: dict) -> list[dict]:
    """The recording's chapters (the sessions' items and turns on its channel, from the session
    service), on the recording's clock, each with its ``#t=`` link into the replay page."""
    spans = await request.app[SESSIONS].chapters(rec["channel"], rec["started_at"], rec["ended_at"])
    return [{"title": c.title, "kind": c.kind, "start": round(c.start, 3), "end": round(c.end, 3),
             "clock": chapter_track.clock(c.start), "href": f"/recordings/{rec['id']}#t={c.start:.1f}"}
            for c in chapter_track.relative(spans, rec["started_at"], rec["ended_at"])]


@routes.get("/recordings/{rid}.webm")
async def recording_file(request: web.Request) -> web.StreamResponse:
    rec = await _recording(request)
    path = request.app[CONFIG].data_path / rec["file"]
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


@routes.get("/recordings/{rid}.vtt")
async def recording_vtt(request: web.Request) -> web.Response:
    rec = await _recording(request)
    caps = _svc(request).captions.get(rec["channel"]) or Captions()
    return web.Response(text=caps.vtt(rec["started_at"], rec["ended_at"]), content_type="text/vtt")


@routes.get("/recordings/{rid}/chapters.vtt")
async def recording_chapters_vtt(request: web.Request) -> web.Response:
    """The recording's chapters as a WebVTT track (``<track kind="chapters">``)."""
    rec = await _recording(request)
    spans = await request.app[SESSIONS].chapters(rec["channel"], rec["started_at"], rec["ended_at"])
    text = chapter_track.vtt(chapter_track.relative(spans, rec["started_at"], rec["ended_at"]))
    return web.Response(text=text, content_type="text/vtt")


@routes.get("/api/recordings")
async def recordings_api(request: web.Request) -> web.Response:
    return web.json_response({"recordings": await _svc(request).recordings()})


@routes.get("/api/recordings/{rid}")
async def recording_api(request: web.Request) -> web.Response:
    view = await _svc(request).recording_view(request.match_info["rid"])
    if view is None:
        raise ApiError(404, "id", "no such recording")
    view["chapters"] = await _chapters(request, view)
    return web.json_response(view)


@routes.get("/recordings/{rid}")
async def recording_page(request: web.Request) -> web.Response:
    rec = await _recording(request)
    channel = _svc(request).channels.get(rec["channel"])
    return render(request, "broadcast/replay.html", {
        "rec": rec, "when": _when(rec["started_at"]), "chapters": await _chapters(request, rec),
        "channel_title": channel.title if channel is not None else rec["channel"]})


@routes.get("/recordings")
async def recordings_page(request: web.Request) -> web.Response:
    recs = await _svc(request).recordings()
    for r in recs:
        r["when"] = _when(r["started_at"])
    config = request.app[CONFIG]
    return render(request, "broadcast/recordings.html", {
        "recordings": recs, "channels": _svc(request).channels,
        "max_age_days": max(0.0, config.recordings_max_age_days), "max_mb": max(0.0, config.recordings_max_mb)})


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


# -- pages ---------------------------------------------------------------------------------
def _page_channel(request: web.Request, name: str) -> dict:
    channels = _svc(request).channels
    ch = channels.get(name)
    if ch is None:
        raise web.HTTPNotFound()
    companion = channels.get(ch.companion) if ch.companion else None
    return {"channel": ch, "companion": companion, "viewers": _svc(request).viewer_counts()}


@routes.get("/live")
async def live_page(request: web.Request) -> web.Response:
    return render(request, "broadcast/live.html", await _live_context(request, "central"))


@routes.get("/live/{channel}")
async def live_channel_page(request: web.Request) -> web.Response:
    """The live page of another channel: the Central Council's (``/live/council``), a committee's."""
    return render(request, "broadcast/live.html", await _live_context(request, request.match_info["channel"]))


async def _live_context(request: web.Request, name: str) -> dict:
    """A channel's live page, with the other channels to switch to (the Council from the Assembly's);
    the Council's page lists its members beside its channel."""
    ctx = _page_channel(request, name)
    companions = {ch.companion for ch in _svc(request).channels.values() if ch.companion}
    ctx["others"] = [ch for n, ch in sorted(_svc(request).channels.items()) if n != name and n not in companions]
    if name == "council":
        ctx["council"] = await request.app[COUNCIL].current()
    return ctx


@routes.get("/watch/{channel}")
async def watch_page(request: web.Request) -> web.Response:
    ctx = _page_channel(request, request.match_info["channel"])
    codec = request.query.get("codec", "").lower()
    ctx["codec"] = codec if codec in ("vp8", "h264") else None  # ?codec=h264 asks for H.264 first
    return render(request, "broadcast/watch.html", ctx)


@routes.get("/room/{channel}")
async def room_page(request: web.Request) -> web.Response:
    """A meeting room's screen: picture and interpreter large, the session, the rounds; no navigation."""
    return render(request, "broadcast/room.html", _page_channel(request, request.match_info["channel"]))


@routes.get("/studio/{channel}")
async def studio_page(request: web.Request) -> web.Response:
    return render(request, "broadcast/studio.html", _page_channel(request, request.match_info["channel"]))


# -- start and stop ------------------------------------------------------------------------
def host_candidates(config) -> list[str] | None:
    """The addresses the server's peers offer as host candidates: COUNCILCAST_ICE_INTERFACES, else
    the listening address if it is one of the machine's own, else None (every address)."""
    return ice_addresses(config.ice_interfaces) or listen_addresses(config.host)


async def _broadcast_ctx(app: web.Application, session_prefix: str = ""):
    config = app[CONFIG]
    limits = SessionLimits(max_sessions=config.media_max_sessions, per_client=config.media_max_sessions_per_address,
                           connect_timeout=config.media_connect_timeout)
    retention = Retention(max_age_s=max(0.0, config.recordings_max_age_days) * 86400,
                          max_bytes=int(max(0.0, config.recordings_max_mb) * 2**20))
    svc = BroadcastService(app[DB], config.data_path, limits, retention,
                           ice_urls=parse_ice_urls(config.ice_servers), session_prefix=session_prefix)
    svc.broadcaster.host_addresses = host_candidates(config)
    app[BROADCAST] = svc
    app[BROADCASTER] = svc.broadcaster
    await svc.start(relay_origin=config.relay_origin, relay_channels=config.relay_channels,
                    relay_record=config.relay_record, demo=config.runs_demo)
    yield
    await svc.stop()


def _handed_off_ctx(proxy: MediaProxy, fanout: bool = False, session_prefix: str = ""):
    """The service of a process without media: the channels mirrored from the media process;
    with ``fanout``, also a forwarding relay of each live channel and WHEP sessions of its own."""
    async def ctx(app: web.Application):
        config = app[CONFIG]
        limits = SessionLimits(max_sessions=config.media_max_sessions,
                               per_client=config.media_max_sessions_per_address,
                               connect_timeout=config.media_connect_timeout)
        svc = BroadcastService(app[DB], config.data_path, limits, ice_urls=parse_ice_urls(config.ice_servers),
                               session_prefix=session_prefix)
        svc.broadcaster.host_addresses = host_candidates(config)
        app[BROADCAST] = svc
        app[BROADCASTER] = svc.broadcaster

        async def channels() -> list[dict]:
            return (await proxy.get_json("/api/channels"))["channels"]

        def connector():
            return aiohttp.UnixConnector(proxy.socket_path) if proxy.socket_path else aiohttp.TCPConnector()

        await svc.start(mirror=channels, fanout=(proxy.base, connector) if fanout else None)
        yield
        await svc.stop()
    return ctx


def _by_owner(index: int, peers: dict[int, MediaProxy], here):
    """A session URL's handler: ``here`` when the session's id names this process (or no known
    process), else forwarded to the process it names (``w<j>.``); an id without a prefix is
    process 0's (the media process's)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        m = WORKER_OF_SESSION.match(request.match_info.get("session", ""))
        owner = int(m.group(1)) if m else 0
        if owner != index and owner in peers:
            return await peers[owner].forward(request)
        return await here(request)
    return handler


def _stats_of(index: int, peers: dict[int, MediaProxy]):
    """``/api/broadcast/stats``: this process's figures with its ``worker`` index;
    ``?worker=<j>``: process j's."""
    async def handler(request: web.Request) -> web.StreamResponse:
        wanted = request.query.get("worker")
        if wanted is not None and wanted != str(index):
            if not wanted.isdigit() or int(wanted) not in peers:
                raise ApiError(404, "worker", f"no worker {wanted!r} (0 to {len(peers)})")
            return await peers[int(wanted)].forward(request)
        return web.json_response({**_svc(request).stats(), "worker": index})
    return handler


VIEWER_REPORT_BYTES = 64 << 10


async def viewer_report(request: web.Request) -> web.Response:
    """``PUT /api/broadcast/workers/{worker}/viewers`` (process 0 of ``serve --workers N``, over
    its Unix socket only): fan-out process ``worker``'s viewers by channel,
    ``{"channels": {"central": 3, ...}}``; 204."""
    if not from_a_worker(request):  # the processes' own route: not on the public address
        raise ApiError(404, None, "no such resource")
    wanted = request.match_info["worker"]
    body = await read_json(request, max_bytes=VIEWER_REPORT_BYTES)
    channels = body.get("channels")
    if not isinstance(channels, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in channels.items()):
        raise ApiError(400, "channels", "must be an object of channel name -> viewers (an integer >= 0)")
    if not wanted.isdigit() or not _svc(request).report_viewers(int(wanted), channels):
        raise ApiError(404, "worker", f"no fan-out process {wanted!r} reports here")
    return web.Response(status=204)


def _joined(index: int, count: int):
    """After the broadcast service starts: tell it which process of ``count`` it is."""
    async def ctx(app: web.Application):
        app[BROADCAST].join_workers(index, count)
        yield
    return ctx


def _setup_workers(app: web.Application, index: int, sockets: list[str]) -> None:
    """``serve --workers N`` with the media in process 0: every process answers its own WHEP
    joins and session URLs, the rest of the area is process 0's."""
    peers = {j: MediaProxy(f"unix:{path}", name=f"worker {j}") for j, path in enumerate(sockets) if j != index}
    for proxy in peers.values():
        app.cleanup_ctx.append(proxy.lifecycle)
    prefix = f"w{index}."
    if index == 0:
        app.cleanup_ctx.append(_broadcast_ctx_with(prefix))
    else:
        app.cleanup_ctx.append(_handed_off_ctx(peers[0], fanout=True, session_prefix=prefix))
    app.cleanup_ctx.append(_joined(index, len(sockets)))
    defs = [web.RouteDef("PUT", "/api/broadcast/workers/{worker}/viewers", viewer_report, {})] if index == 0 else []
    for r in routes:
        if r.path == "/api/broadcast/stats":
            defs.append(web.RouteDef(r.method, r.path, _stats_of(index, peers), r.kwargs))
        elif r.path in ("/whep/{channel}/{session}", "/whip/{channel}/{session}"):
            defs.append(web.RouteDef(r.method, r.path, _by_owner(index, peers, r.handler), r.kwargs))
        elif index == 0 or r.path == "/whep/{channel}":
            defs.append(r)
        else:
            defs.append(web.RouteDef(r.method, r.path, peers[0].forward, r.kwargs))
    app.router.add_routes(defs)


def _broadcast_ctx_with(session_prefix: str):
    async def ctx(app: web.Application):
        async for _ in _broadcast_ctx(app, session_prefix):
            yield
    return ctx


def setup(app: web.Application) -> None:
    try:  # a bad ICE server URL stops the start, naming the setting, instead of every join failing
        parse_ice_urls(app[CONFIG].ice_servers)
    except BroadcastError as exc:
        raise SystemExit(f"COUNCILCAST_ICE_SERVERS (--ice-servers): {exc.reason}") from None
    try:  # the same for an interface or address that is not on this machine
        ice_addresses(app[CONFIG].ice_interfaces)
    except BroadcastError as exc:
        raise SystemExit(f"COUNCILCAST_ICE_INTERFACES: {exc.reason}") from None
    extra = app[CONFIG].extra
    if "worker_sockets" in extra:  # serve --workers N, the media in process 0: every process fans out
        _setup_workers(app, int(extra["worker_index"]), list(extra["worker_sockets"]))
        return
    media_url = app[CONFIG].media_url
    if not media_url:
        app.cleanup_ctx.append(_broadcast_ctx)
        app.router.add_routes(routes)
        return
    # The media is in another process: the same routes (methods, paths, HEAD on GET), each
    # answered by that process through the proxy.
    proxy = MediaProxy(media_url)
    app.cleanup_ctx.append(proxy.lifecycle)
    app.cleanup_ctx.append(_handed_off_ctx(proxy))
    app.router.add_routes([web.RouteDef(r.method, r.path, proxy.forward, r.kwargs) for r in routes])


_SDP = {"application/sdp": {"schema": {"type": "string"}}}
_ERR = {"description": "an error: {\"error\": {\"field\": ..., \"reason\": ...}}"}
_405 = {"summary": "not allowed: 405 with Allow", "responses": {"405": _ERR}}
_SESSION_OPTIONS = {"summary": "CORS preflight of a session URL (Allow: OPTIONS, PATCH, DELETE)",
                    "responses": {"204": {"description": "ok"}}}
OPENAPI = {
    "/whip/{channel}": {
        "post": {"summary": "WHIP ingest (RFC 9725): an SDP offer in, the answer out", "security": [{"bearer": []}],
                 "requestBody": {"content": _SDP},
                 "responses": {"201": {"description": "answer; Location = session URL", "content": _SDP},
                               "400": _ERR, "401": _ERR, "403": _ERR, "404": _ERR, "406": _ERR,
                               "409": _ERR, "413": _ERR, "415": _ERR, "503": _ERR}},
        "options": {"summary": "CORS preflight; Accept-Post: application/sdp", "responses": {"204": {"description": "ok"}}},
        "get": _405,
    },
    "/whip/{channel}/{session}": {
        "options": _SESSION_OPTIONS, "get": _405,
        "delete": {"summary": "end the ingest", "responses": {"200": {"description": "ended"}, "404": _ERR}},
        "patch": {"summary": "trickle ICE (application/trickle-ice-sdpfrag); restarts: 422",
                  "responses": {"204": {"description": "candidates added"}, "400": _ERR, "415": _ERR, "422": _ERR}},
    },
    "/whep/{channel}": {
        "post": {"summary": "WHEP playback: an SDP offer in, the answer out; 409 + Retry-After when not live, "
                            "503 + Retry-After when every session is taken",
                 "requestBody": {"content": _SDP},
                 "responses": {"201": {"description": "answer; Location = session URL", "content": _SDP},
                               "400": _ERR, "404": _ERR, "406": _ERR, "409": _ERR, "413": _ERR, "415": _ERR,
                               "503": _ERR}},
        "options": {"summary": "CORS preflight", "responses": {"204": {"description": "ok"}}},
        "get": _405,
    },
    "/whep/{channel}/{session}": {
        "options": _SESSION_OPTIONS, "get": _405,
        "delete": {"summary": "leave", "responses": {"200": {"description": "left"}, "404": _ERR}},
        "patch": {"summary": "trickle ICE", "responses": {"204": {"description": "candidates added"}}},
    },
    "/api/channels": {"get": {"summary": "every channel: state, title, viewers, companion",
                              "responses": {"200": {"description": "{channels: [...]}"}}}},
    "/api/channels/{channel}": {
        "get": {"summary": "one channel and its recordings", "responses": {"200": {"description": "channel"}, "404": _ERR}},
        "put": {"summary": "create or update a channel (secretariat): title, companion, captions_url",
                "security": [{"bearer": []}], "responses": {"200": {"description": "updated"},
                                                            "201": {"description": "created"}, "400": _ERR}},
    },
    "/api/channels/{channel}/camera": {"post": {
        "summary": "put the synthetic camera on air (secretariat/studio): {width, height, fps}",
        "security": [{"bearer": []}], "responses": {"201": {"description": "live"}, "409": _ERR}}},
    "/api/channels/{channel}/live": {"delete": {
        "summary": "take the channel off air (secretariat/studio)", "security": [{"bearer": []}],
        "responses": {"200": {"description": "ended"}}}},
    "/api/channels/{channel}/recordings": {"get": {"summary": "recordings of a channel",
                                                    "responses": {"200": {"description": "{recordings: [...]}"}}}},
    "/api/channels/{channel}/captions": {
        "get": {"summary": "recent caption cues (?since=seq)", "responses": {"200": {"description": "cues"}}},
        "post": {"summary": "add a caption cue (studio/secretariat): {text, duration}", "security": [{"bearer": []}],
                 "responses": {"201": {"description": "cue"}, "400": _ERR}},
    },
    "/api/channels/{channel}/captions.vtt": {"get": {"summary": "captions as WebVTT (?from=unix time)",
                                                      "responses": {"200": {"description": "text/vtt"}}}},
    "/api/recordings": {"get": {"summary": "every recording: the ones being written first (in_progress, bytes "
                                           "so far), then the stored ones newest first",
                                "responses": {"200": {"description": "{recordings: [...]}"}}}},
    "/api/recordings/{rid}": {"get": {"summary": "one recording and its chapters (title, kind, start and end in "
                                                 "seconds of the recording, href with #t=); as WebVTT at "
                                                 "chapters_vtt",
                                      "responses": {"200": {"description": "recording"}, "404": _ERR}}},
    "/api/broadcast/stats": {"get": {"summary": "encoders, streams and sessions, for operators (serve --workers N: "
                                                "the answering worker's, with its index; ?worker=j: worker j's)",
                                     "responses": {"200": {"description": "figures"}}}},
}

"""The broadcast service: the live channels, their settings and recordings, and relay loops.

:class:`broadcast.channels.Broadcaster` holds the media (sessions, the shared encoder, the
fan-out); this service adds what lives beyond one session: channel settings and
recordings in the store (:mod:`councilcast.stores.broadcast`) with the one being written
and their retention (:mod:`broadcast.retention`), the captions of each channel, the relay
loops that keep pulling an origin's channels, and the demo's cameras.

In a process of ``serve --workers N`` that holds no media (every one but the media process),
the broadcast routes are handed to the media process (:mod:`councilcast.media_proxy`) and this
service only mirrors its channels (:meth:`BroadcastService.start` with ``mirror``): the pages
of other areas that show a channel (the home page's "on air", an assembly's player) read
:attr:`~BroadcastService.channels` and :meth:`~BroadcastService.channel_infos`, at most
:data:`MIRROR_EVERY_S` old. When process 0 of ``serve --workers N`` holds the media, the
others are also fan-out processes (``fanout``): each channel the mirror sees live is pulled
from the media process by a forwarding relay loop (no decoding, no recording), and the
process's own WHEP viewers are served from that copy (docs/deploy.md, docs/broadcast.md
"Joining").
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp
from yarl import URL

from broadcast import ice, libinternals
from broadcast.captions import Captions
from broadcast.channels import Broadcaster, Session, SessionLimits
from broadcast.errors import RETRY_AFTER_S
from broadcast.relay import pull
from broadcast.retention import Retention, oldest_first
from broadcast.trickle import parse_sdpfrag
from councilcast.storage import Database
from councilcast.stores import broadcast as store

__all__ = ["BroadcastService", "ChannelView", "DEFAULT_CHANNELS", "RETENTION_EVERY_S", "MIRROR_EVERY_S"]

log = logging.getLogger(__name__)

DEFAULT_CHANNELS = [
    # name, title, companion
    ("central", "Central Assembly", "central-sign"),
    ("central-sign", "Central Assembly: sign-language interpreter", None),
    ("council", "Central Council", None),
]

RETENTION_EVERY_S = 60.0
"""How often the retention rule runs (besides at start-up and after each recording)."""

MIRROR_EVERY_S = 1.0
"""How often a process without media reads the media process's channels (``GET /api/channels``)."""


@dataclass
class ChannelView:
    """A channel as the media process last reported it, for the pages of a process without media:
    the fields of :meth:`broadcast.channels.Channel.info` and what the templates read."""

    name: str
    title: str
    state: str = "idle"
    watching: int = 0
    companion: str | None = None
    captions_url: str | None = None
    source: str | None = None
    live_since: float | None = None

    @classmethod
    def of(cls, info: dict) -> "ChannelView":
        return cls(name=info["name"], title=info.get("title") or info["name"], state=info.get("state", "idle"),
                   watching=int(info.get("viewers") or 0), companion=info.get("companion"),
                   captions_url=info.get("captions_url"), source=info.get("source"),
                   live_since=info.get("live_since"))

    def info(self) -> dict:
        return {"name": self.name, "title": self.title, "state": self.state, "viewers": self.watching,
                "companion": self.companion, "captions_url": self.captions_url, "source": self.source,
                "live_since": self.live_since}


class BroadcastService:
    def __init__(self, db: Database, data_path: Path, limits: SessionLimits | None = None,
                 retention: Retention | None = None, retention_every_s: float = RETENTION_EVERY_S,
                 ice_urls: list[ice.IceUrl] | None = None, session_prefix: str = ""):
        self.db = db
        self.data_path = data_path
        self.broadcaster = Broadcaster(data_path / "recordings", limits=limits, on_recording=self._store_recording,
                                       session_prefix=session_prefix)
        self.ice_urls = list(ice_urls or [])
        self.captions: dict[str, Captions] = {}
        self.retention = retention or Retention()
        self.retention_every_s = retention_every_s
        self._retention_lock = asyncio.Lock()
        self._live_ids: dict[str, str] = {}  # file of a recording being written -> its id (kept when stored)
        self._tasks: list[asyncio.Task] = []
        self.mirrored: dict[str, ChannelView] | None = None
        """The media process's channels, in a process without media (None: the media is here)."""
        self.mirror_every_s = MIRROR_EVERY_S
        self._fanout: tuple[str, Callable[[], aiohttp.BaseConnector]] | None = None
        self._relays: dict[str, asyncio.Task] = {}  # fan-out process: channel -> its relay loop

    # -- start and stop ------------------------------------------------------------------
    async def start(self, *, relay_origin: str | None = None, relay_channels: str | None = None,
                    relay_record: bool = False, demo: bool = False,
                    mirror: Callable[[], Awaitable[list[dict]]] | None = None,
                    fanout: tuple[str, Callable[[], aiohttp.BaseConnector]] | None = None) -> None:
        """Define the default and saved channels; then relay an origin (recording what it pulls
        only with ``relay_record``), or put the demo camera on air.

        With ``mirror`` (a function that reads the media process's channel infos), this process
        holds no media: no session, camera, relay, recording nor retention pass runs here; the
        channels are read from the media process every :data:`MIRROR_EVERY_S` seconds. With
        ``mirror`` and ``fanout`` (the media process's base URL and a factory of the connector
        that reaches it), this process also serves WHEP viewers: every channel the mirror sees
        live is pulled from there by a forwarding relay loop, not recorded."""
        if mirror is not None and fanout is None:
            await self._start_mirror(mirror)
            return
        self._self_check()
        if self.ice_urls:  # in the background: a resolver that hangs delays neither start-up nor a join
            self._tasks.append(asyncio.ensure_future(self._resolve_ice()))
        if mirror is not None:
            self._fanout = fanout
            await self._start_mirror(mirror)
            for name, view in self.mirrored.items():
                self.broadcaster.define(name, view.title, view.companion, view.captions_url)
            return
        await self._define_saved()
        self._tasks.append(asyncio.ensure_future(self._retention_loop()))  # at start-up, then every minute
        if relay_origin:
            origin = relay_origin.rstrip("/")
            for name in await self._relay_channels(origin, relay_channels):
                self._tasks.append(asyncio.ensure_future(self._relay_loop(origin, name, record=relay_record)))
        elif demo:
            self.broadcaster.start_camera("central", 1280, 720, 30)
            self.broadcaster.start_camera("central-sign", 320, 240, 15)

    def _self_check(self) -> None:
        checked = libinternals.self_check()  # once, before the first viewer: which per-packet path runs
        refused = {k: v for k, v in checked["refused"].items() if v}
        log.info("broadcast: per-packet path %s%s", checked["path"], f" (refused: {refused})" if refused else "")

    async def _define_saved(self) -> None:
        """The default channels and the ones saved in the store."""
        bc = self.broadcaster
        for name, title, companion in DEFAULT_CHANNELS:
            bc.define(name, title, companion)
        for r in await self.db.read(store.list_channels):
            bc.define(r["name"], r["title"], r["companion"], r["captions_url"])

    async def _start_mirror(self, fetch: Callable[[], Awaitable[list[dict]]]) -> None:
        rows = await self.db.read(store.list_channels)
        views = {name: ChannelView(name, title, companion=companion) for name, title, companion in DEFAULT_CHANNELS}
        views.update({r["name"]: ChannelView(r["name"], r["title"] or r["name"], companion=r["companion"],
                                             captions_url=r["captions_url"]) for r in rows})
        self.mirrored = views  # idle until the media process first answers
        self._tasks.append(asyncio.ensure_future(self._mirror_loop(fetch)))

    async def _mirror_loop(self, fetch: Callable[[], Awaitable[list[dict]]]) -> None:
        failing, reached = False, False
        while True:
            try:
                self.mirrored = {c["name"]: ChannelView.of(c) for c in await fetch()}
                if self._fanout is not None:
                    self._follow(self.mirrored)
                if failing:
                    log.info("broadcast: the media process answers again")
                failing, reached = False, True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the media process restarts: keep the last view
                if not failing and reached:  # before its first answer it is still starting: not worth a warning
                    log.warning("broadcast: cannot read the media process's channels (%r); keeping the last view", exc)
                failing = reached
            await asyncio.sleep(self.mirror_every_s)

    def _follow(self, views: dict[str, ChannelView]) -> None:
        """Fan-out process: define the media process's channels here, and keep a relay loop
        pulling each one it has seen live (the loop itself retries while it is not)."""
        bc = self.broadcaster
        origin, connector = self._fanout
        for name, view in views.items():
            if name not in bc.channels:
                try:
                    bc.define(name, view.title, view.companion, view.captions_url)
                except Exception:  # noqa: BLE001 - a name this process refuses: not pulled
                    continue
            task = self._relays.get(name)
            if view.state == "live" and (task is None or task.done()) and not bc.closed:
                task = asyncio.ensure_future(self._relay_loop(origin, name, connector=connector))
                self._relays[name] = task
                self._tasks.append(task)

    async def _resolve_ice(self) -> None:
        servers = await ice.resolve_stun(self.ice_urls, asyncio.get_running_loop().getaddrinfo)
        self.broadcaster.ice_servers = servers
        log.info("broadcast: server peers use %s", ", ".join(s.urls for s in servers) or "no STUN server")

    async def stop(self) -> None:
        self.broadcaster.closed = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.broadcaster.close()

    def stats(self) -> dict:
        """Encoders, streams and sessions, and which library internals the fan-out uses."""
        return {**self.broadcaster.stats(), "internals": libinternals.report()}

    # -- channels ------------------------------------------------------------------------
    @property
    def channels(self) -> dict:
        """Every channel by name (the live media state, for the pages; mirrored from the media
        process where the media is not here)."""
        return self.mirrored if self.mirrored is not None else self.broadcaster.channels

    def channel(self, name: str):
        """The channel ``name``, or BroadcastError ``unknown_channel`` (404)."""
        return self.broadcaster.get(name)

    def channel_info(self, name: str) -> dict:
        """A channel as the API shows it: its state, and where to watch and caption it."""
        if self.mirrored is not None:
            if name not in self.mirrored:
                self.broadcaster.get(name)  # BroadcastError unknown_channel, as where the media is
            info = self.mirrored[name].info()
        else:
            info = self.broadcaster.get(name).info()
        info.update(whep=f"/whep/{name}", watch=f"/watch/{name}", captions=f"/api/channels/{name}/captions")
        return info

    def channel_infos(self) -> list[dict]:
        return [self.channel_info(n) for n in sorted(self.channels)]

    def start_camera(self, name: str, width: int, height: int, fps: int) -> None:
        self.broadcaster.get(name)
        self.broadcaster.start_camera(name, width, height, fps)

    async def end(self, name: str) -> None:
        """Take a channel off air, whatever its source."""
        await self.broadcaster.end(name)

    async def define_channel(self, name: str, title: str | None, companion: str | None,
                             captions_url: str | None) -> bool:
        """Create or change a channel and save its settings; True when it is new."""
        existed = name in self.broadcaster.channels
        ch = self.broadcaster.define(name, title, companion, captions_url)
        await self.db.write(lambda c: store.save_channel(c, ch.name, ch.title, ch.companion, ch.captions_url,
                                                         time.time()))
        return not existed

    def channel_captions(self, name: str) -> Captions:
        self.broadcaster.get(name)  # unknown channel: BroadcastError
        return self.captions.setdefault(name, Captions())

    # -- sessions ------------------------------------------------------------------------
    async def open_session(self, protocol: str, name: str, offer: str, client: str | None):
        """WHIP (publish) or WHEP (play) on channel ``name``: (session, SDP answer)."""
        start = self.broadcaster.publish if protocol == "whip" else self.broadcaster.play
        return await start(name, offer, client=client)

    def session(self, sid: str, kind: str) -> Session:
        return self.broadcaster.session(sid, kind)

    async def end_session(self, sid: str) -> None:
        await self.broadcaster.close_session(sid)

    async def trickle(self, session: Session, frag: str) -> int:
        """Add the UDP candidates of a trickle-ICE fragment to a session; how many were added."""
        mids = [t.mid for t in session.pc.getTransceivers() if t.mid is not None]
        candidates = parse_sdpfrag(frag, mids)
        for cand in candidates:
            await session.pc.addIceCandidate(cand)
        return len(candidates)

    # -- recordings ----------------------------------------------------------------------
    def _public(self, r: dict) -> dict:
        """A recording as the API and the pages show it: its ``url`` and ``page``, not its file."""
        out = {k: v for k, v in r.items() if k != "file"}
        out.setdefault("in_progress", False)
        out["url"] = f"/recordings/{r['id']}.webm"
        out["page"] = f"/recordings/{r['id']}"
        out["chapters_vtt"] = f"/recordings/{r['id']}/chapters.vtt"
        return out

    def _in_progress(self, channel: str | None = None) -> list[dict]:
        """The recordings being written now (one per channel on air, from its first keyframe),
        as rows: ``ended_at`` is now, ``bytes`` the size so far, ``in_progress`` True.
        Each gets its id the first time it is seen, and keeps it once stored."""
        out = []
        now = time.time()
        for name, ch in self.broadcaster.channels.items():
            rec = ch.program.recorder if ch.program is not None else None
            if (channel is not None and name != channel) or rec is None or rec.started_at is None or rec.failed:
                continue
            try:
                size = max(rec.path.stat().st_size, rec.muxed_bytes)  # the file lags by its write buffer
            except OSError:
                size = rec.muxed_bytes
            rid = self._live_ids.setdefault(str(rec.path), secrets.token_urlsafe(9))
            out.append({"id": rid, "channel": name, "file": self._relative(rec.path), "started_at": rec.started_at,
                        "ended_at": now, "duration_s": round(max(0.0, now - rec.started_at), 3), "bytes": size,
                        "video_frames": rec.video_frames, "audio_packets": rec.audio_packets, "in_progress": True})
        out.sort(key=lambda r: r["started_at"], reverse=True)
        return out

    async def recordings(self, channel: str | None = None) -> list[dict]:
        """Recordings, the ones being written first, then the stored ones newest first, with
        their public ``url``, ``page`` and ``chapters_vtt``, without the file path."""
        rows = await self.db.read(lambda c: store.list_recordings(c, channel))
        return [self._public(r) for r in self._in_progress(channel) + rows]

    async def recording(self, rid: str) -> dict | None:
        """One recording with its ``file`` (relative to the data folder), stored or being written."""
        for r in self._in_progress():
            if r["id"] == rid:
                return r
        return await self.db.read(lambda c: store.get_recording(c, rid))

    async def recording_view(self, rid: str) -> dict | None:
        """One recording as the API shows it (no file path), or None."""
        r = await self.recording(rid)
        return None if r is None else self._public(r)

    def _relative(self, path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.data_path.resolve()))
        except ValueError:
            return str(path)

    async def _store_recording(self, channel: str, rec) -> None:
        rid = self._live_ids.pop(str(rec.path), None) or secrets.token_urlsafe(9)
        await self.db.write(lambda c: store.insert_recording(c, rid, channel, self._relative(rec.path), rec))
        try:
            await self.apply_retention()
        except Exception:  # noqa: BLE001 - the recording is stored; the next pass retries
            log.exception("recordings: retention after storing %s", rid)

    # -- retention -----------------------------------------------------------------------
    async def apply_retention(self, now: float | None = None) -> list[dict]:
        """Delete the recordings the retention rule lets go (:mod:`broadcast.retention`): every
        finished one older than the age bound, then, while the recordings (the one being
        written included) hold more than the size bound, the oldest finished ones. A
        recording goes whole: its file, then its row; a file that cannot be removed keeps its
        row (logged) and the next oldest is considered. Returns what was deleted, each with
        its ``reason`` ("age" or "size")."""
        rule = self.retention
        if rule.off:
            return []
        async with self._retention_lock:
            now = time.time() if now is None else now
            rows = await self.db.read(lambda c: store.list_recordings(c))
            total = sum(r["bytes"] for r in rows) + sum(r["bytes"] for r in self._in_progress())
            deleted = []
            for r in oldest_first(rows):
                reason = rule.reason(r, now, total)
                if reason is not None and await self._delete_recording(r, reason):
                    total -= r["bytes"]
                    deleted.append({**self._public(r), "reason": reason})
            return deleted

    async def _delete_recording(self, r: dict, reason: str) -> bool:
        path = self.data_path / r["file"]
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            log.error("recordings: cannot delete %s (%s, %s): %s; it stays, with its row", r["id"], r["channel"],
                      path, exc)
            return False
        try:
            await self.db.write(lambda c: store.delete_recording(c, r["id"]))
        except Exception:  # noqa: BLE001 - the file is gone: the next pass removes the row (missing_ok)
            log.exception("recordings: %s's file is deleted but not its row; the next pass retries", r["id"])
            return False
        log.info("recordings: deleted %s (%s, started %s, %.1f MiB): %s", r["id"], r["channel"],
                 time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(r["started_at"])), r["bytes"] / 2**20,
                 "older than the age bound" if reason == "age" else "past the size bound")
        return True

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.apply_retention()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep the bound whatever one pass met
                log.exception("recordings: retention pass failed")
            await asyncio.sleep(self.retention_every_s)

    # -- relay ---------------------------------------------------------------------------
    async def _relay_channels(self, origin: str, wanted: str | None) -> list[str]:
        """The channels to pull: ``wanted`` (comma-separated) or every channel of the origin."""
        bc = self.broadcaster
        names = [n.strip() for n in (wanted or "").split(",") if n.strip()]
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{origin}/api/channels") as r:
                remote = (await r.json())["channels"]
            for c in remote:
                bc.define(c["name"], c["title"], c.get("companion"), c.get("captions_url"))
            names = names or [c["name"] for c in remote]
        except Exception as exc:  # noqa: BLE001 - an origin down at start: pull what we can, retry later
            log.warning("relay: cannot list channels at %s (%r); pulling %s", origin, exc, names or ["central"])
            names = names or ["central"]
        for n in names:
            if n not in bc.channels:
                bc.define(n)
        return names

    async def _relay_loop(self, origin: str, channel: str, *, record: bool = False,
                          connector: Callable[[], aiohttp.BaseConnector] | None = None) -> None:
        """Keep pulling ``channel`` from ``origin`` (retrying while it is not live); the origin's
        packets are forwarded (:mod:`broadcast.forward`), recorded here only with ``record``.
        ``connector``: how the HTTP client reaches the origin (a fan-out process: the media
        process's Unix socket); the media itself goes over UDP as always."""
        bc = self.broadcaster
        async with aiohttp.ClientSession(connector=connector() if connector else None) as http:
            while not bc.closed:
                delay = RETRY_AFTER_S
                location: list[str] = []

                async def post_offer(sdp: str) -> str:
                    async with http.post(f"{origin}/whep/{channel}", data=sdp.encode(),
                                         headers={"Content-Type": "application/sdp"}) as r:
                        if r.status != 201:
                            raise RuntimeError(f"origin answered {r.status}: {(await r.text())[:200]}",
                                               int(r.headers.get("Retry-After", RETRY_AFTER_S)))
                        location.append(str(r.url.join(URL(r.headers["Location"]))))
                        return await r.text()

                async def hang_up() -> None:
                    if location:
                        try:
                            async with http.delete(location[0]):
                                pass
                        except (aiohttp.ClientError, RuntimeError):
                            pass

                try:
                    session = await pull(bc, channel, post_offer, on_close=hang_up, record=record)
                    try:
                        program = bc.get(channel).program
                        if program is not None:
                            await program.ended
                    finally:  # also on cancel: hang up at the origin while our HTTP client is open
                        await asyncio.shield(bc.close_session(session.id))
                    delay = 1
                except asyncio.CancelledError:
                    raise
                except RuntimeError as exc:
                    delay = exc.args[1] if len(exc.args) > 1 else RETRY_AFTER_S
                    log.info("relay %s: %s", channel, exc.args[0])
                except Exception as exc:  # noqa: BLE001 - keep the relay alive whatever the origin does
                    log.warning("relay %s from %s: %r", channel, origin, exc)
                await asyncio.sleep(min(max(delay, 1), 30))

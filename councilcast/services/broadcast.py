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

A channel's ``viewers`` are the people watching it in every process (``serve --workers N``):
each fan-out process reports its own viewers to process 0 every :data:`MIRROR_EVERY_S`
(:meth:`BroadcastService.report_viewers`, with the mirror's read), process 0 adds them to
its own and does not count the fan-out processes' pulls (:meth:`BroadcastService.open_session`
with ``copy``); a process whose report is older than :data:`REPORT_STALE_S` is left out and
the figure says it is partial (``viewers_partial``, ``viewers_by_worker``). A fan-out process
drops its copy of a channel when process 0 no longer has that programme on air (it restarted,
or its socket refuses connections) and pulls the new one as soon as the mirror sees it live.
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
from councilcast import gcstats
from councilcast.storage import Database
from councilcast.stores import broadcast as store

__all__ = ["BroadcastService", "ChannelView", "DEFAULT_CHANNELS", "RETENTION_EVERY_S", "MIRROR_EVERY_S",
           "REPORT_STALE_S", "REPORT_TIMEOUT_S", "COPY_HEADER", "PROGRAMME_HEADER"]

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
"""How often a process without media reads the media process's channels (``GET /api/channels``);
a fan-out process also reports its viewers to process 0 as often."""

REPORT_STALE_S = 3.0
"""Process 0 leaves out of a channel's ``viewers`` a fan-out process whose last report is older
than this (three missed reports): that process's figure is unknown, the sum is partial."""

REPORT_TIMEOUT_S = 1.0
"""How long a fan-out process waits for process 0 to take its report."""

COPY_HEADER = "X-Councilcast-Copy"
"""On a fan-out process's WHEP pull of a channel from process 0: that process's index. Process 0
believes it only over its Unix socket (:func:`councilcast.media_proxy.copy_of`) and does not count
the session among the channel's viewers."""
PROGRAMME_HEADER = "X-Councilcast-Live-Since"
"""On process 0's answer to a pull: the ``live_since`` of the programme the copy is of."""


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
    partial: bool = False
    by_worker: dict | None = None

    @classmethod
    def of(cls, info: dict) -> "ChannelView":
        return cls(name=info["name"], title=info.get("title") or info["name"], state=info.get("state", "idle"),
                   watching=int(info.get("viewers") or 0), companion=info.get("companion"),
                   captions_url=info.get("captions_url"), source=info.get("source"),
                   live_since=info.get("live_since"), partial=bool(info.get("viewers_partial")),
                   by_worker=info.get("viewers_by_worker"))

    def info(self) -> dict:
        out = {"name": self.name, "title": self.title, "state": self.state, "viewers": self.watching,
               "viewers_partial": self.partial, "companion": self.companion, "captions_url": self.captions_url,
               "source": self.source, "live_since": self.live_since}
        if self.by_worker is not None:
            out["viewers_by_worker"] = self.by_worker
        return out


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
        self._copied: dict[str, tuple[float, float]] = {}  # fan-out process: channel -> (process 0's live_since
        # of the programme copied, monotonic time the copy was made)
        self._wake: dict[str, asyncio.Event] = {}  # fan-out process: channel -> wakes its relay loop's wait
        self.worker: int | None = None
        """This process's index in ``serve --workers N`` (None: one process)."""
        self._reporters: range = range(0)  # process 0: the fan-out processes whose viewers it adds
        self._reports: dict[int, tuple[float, dict[str, int]]] = {}  # worker -> (monotonic time, viewers)
        self._copies: set[str] = set()  # process 0: ids of the fan-out processes' pulls (no viewers)

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

    def join_workers(self, index: int, count: int) -> None:
        """``serve --workers N`` with the media in process 0: this process is ``index`` of
        ``count``; process 0 adds to its channels' viewers those processes 1 to N-1 report."""
        self.worker = index
        self._reporters = range(1, count) if index == 0 else range(0)

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
        http = None
        if self._fanout is not None:  # the viewer reports to process 0, over its Unix socket
            http = aiohttp.ClientSession(connector=self._fanout[1](),
                                         timeout=aiohttp.ClientTimeout(total=REPORT_TIMEOUT_S))
        try:
            while True:
                if http is not None:
                    await self._report(http)
                asked = time.monotonic()
                try:
                    self.mirrored = {c["name"]: ChannelView.of(c) for c in await fetch()}
                    if self._fanout is not None:
                        self._follow(self.mirrored, asked)
                    if failing:
                        log.info("broadcast: the media process answers again")
                    failing, reached = False, True
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the media process restarts: keep the last view
                    if not failing and reached:  # before its first answer it is still starting: not worth a warning
                        log.warning("broadcast: cannot read the media process's channels (%r); keeping the last view",
                                    exc)
                    failing = reached
                    if self._fanout is not None and _nobody_listens(exc):
                        self._drop_copies(None, "process 0 does not listen (it died or is starting again)")
                await asyncio.sleep(self.mirror_every_s)
        finally:
            if http is not None:
                await http.close()

    async def _report(self, http: aiohttp.ClientSession) -> None:
        """Fan-out process: tell process 0 how many viewers each channel has here."""
        if self.worker is None:
            return
        try:
            async with http.put(f"{self._fanout[0]}/api/broadcast/workers/{self.worker}/viewers",
                                json={"channels": self.own_viewers()}) as r:
                if r.status != 204:
                    log.warning("broadcast: process 0 refused this process's viewer report: %d %s", r.status,
                                (await r.text())[:200])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - process 0 down or slow: its count says partial
            log.debug("broadcast: viewer report not taken (%r)", exc)

    def _drop_copies(self, name: str | None, why: str) -> None:
        """Fan-out process: end the copy of ``name`` (every copy: None), whose programme is gone
        at process 0; the relay loop then pulls the channel again when it is live."""
        bc = self.broadcaster
        for n in ([name] if name is not None else [n for n, ch in bc.channels.items() if ch.source == "relay"]):
            self._copied.pop(n, None)
            ch = bc.channels.get(n)
            if ch is not None and ch.source == "relay" and ch.program is not None:
                log.info("broadcast: dropping this process's copy of %s: %s", n, why)
                self._tasks.append(asyncio.ensure_future(bc.end(n)))

    def _follow(self, views: dict[str, ChannelView], asked: float) -> None:
        """Fan-out process: define the media process's channels here, and keep a relay loop
        pulling each one it has seen live (the loop itself retries while it is not); drop a copy
        whose programme process 0 no longer has on air, by a view asked for (at monotonic time
        ``asked``) after the copy was made."""
        bc = self.broadcaster
        origin, connector = self._fanout
        for name, view in views.items():
            if name not in bc.channels:
                try:
                    bc.define(name, view.title, view.companion, view.captions_url)
                except Exception:  # noqa: BLE001 - a name this process refuses: not pulled
                    continue
            copied = self._copied.get(name)
            if copied is not None and asked > copied[1] and (view.state != "live" or view.live_since != copied[0]):
                self._drop_copies(name, f"process 0 has {'another programme' if view.state == 'live' else 'nothing'} "
                                        "on air")
            task = self._relays.get(name)
            if view.state == "live" and (task is None or task.done()) and not bc.closed:
                task = asyncio.ensure_future(self._relay_loop(origin, name, connector=connector))
                self._relays[name] = task
                self._tasks.append(task)
            elif view.state == "live" and name not in self._copied and name in self._wake:
                self._wake[name].set()  # its loop waits after a refused pull: pull now

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
        return {**self.broadcaster.stats(), "internals": libinternals.report(), "gc": gcstats.snapshot()}

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
        """A channel as the API shows it: its state, its viewers in every process, and where to
        watch and caption it."""
        if self.mirrored is not None:
            if name not in self.mirrored:
                self.broadcaster.get(name)  # BroadcastError unknown_channel, as where the media is
            info = self.mirrored[name].info()
        else:
            ch = self.broadcaster.get(name)
            info = ch.info()
            info.update(self._viewers(name, self._own(ch)))
        info.update(whep=f"/whep/{name}", watch=f"/watch/{name}", captions=f"/api/channels/{name}/captions")
        return info

    # -- viewers in every process ----------------------------------------------------------
    def _own(self, ch) -> int:
        """Viewers of ``ch`` connected to this process, the fan-out processes' pulls not counted."""
        return sum(s.connected_at is not None and s.id not in self._copies for s in ch.viewers.values())

    def own_viewers(self) -> dict[str, int]:
        """This process's connected viewers, by channel (what a fan-out process reports)."""
        self._copies &= self.broadcaster.sessions.keys()
        return {name: self._own(ch) for name, ch in self.broadcaster.channels.items()}

    def report_viewers(self, worker: int, channels: dict[str, int]) -> bool:
        """Process 0: fan-out process ``worker`` has ``channels`` viewers (by channel) now.
        False when no such fan-out process is expected here."""
        if worker not in self._reporters:
            return False
        self._reports[worker] = (time.monotonic(), dict(channels))
        return True

    def _viewers(self, name: str, own: int) -> dict:
        """``viewers`` of channel ``name``: this process's ``own`` and, in process 0 of ``serve
        --workers N``, those of every fan-out process whose report is fresh; a process whose
        report is not is ``None`` in ``viewers_by_worker`` and the sum is ``viewers_partial``."""
        if not self._reporters:
            return {"viewers": own, "viewers_partial": False}
        self._copies &= self.broadcaster.sessions.keys()
        now = time.monotonic()
        by: dict[str, int | None] = {str(self.worker or 0): own}
        for j in self._reporters:
            report = self._reports.get(j)
            by[str(j)] = report[1].get(name, 0) if report is not None and now - report[0] <= REPORT_STALE_S else None
        return {"viewers": sum(n for n in by.values() if n is not None), "viewers_partial": None in by.values(),
                "viewers_by_worker": by}

    def channel_infos(self) -> list[dict]:
        return [self.channel_info(n) for n in sorted(self.channels)]

    def viewer_counts(self) -> dict[str, int]:
        """Each channel's ``viewers`` as :meth:`channel_info` gives them (every process's, no pulls):
        what a page shows before its player's first poll of ``/api/channels/{name}``."""
        return {n: self.channel_info(n)["viewers"] for n in self.channels}

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
    async def open_session(self, protocol: str, name: str, offer: str, client: str | None, *,
                           copy: bool = False):
        """WHIP (publish) or WHEP (play) on channel ``name``: (session, SDP answer). ``copy``: a
        fan-out process's pull (``serve --workers N``), not counted among the viewers."""
        start = self.broadcaster.publish if protocol == "whip" else self.broadcaster.play
        session, answer = await start(name, offer, client=client)
        if copy and protocol == "whep":
            self._copies.add(session.id)
        return session, answer

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
        copy = self._fanout is not None and record is False and connector is not None
        if copy:
            wake = self._wake.setdefault(channel, asyncio.Event())
        failing: str | None = None  # the failure of the last attempts, told once (then at debug level)

        def tell(level: int, what: str) -> None:
            nonlocal failing
            if what != failing:
                log.log(level, "relay %s from %s: %s (trying again until it answers)", channel, origin, what)
            else:
                log.debug("relay %s from %s: still %s", channel, origin, what)
            failing = what

        async with aiohttp.ClientSession(connector=connector() if connector else None) as http:
            while not bc.closed:
                delay, refused = RETRY_AFTER_S, False
                location: list[str] = []
                programme: list[float | None] = []

                async def post_offer(sdp: str) -> str:
                    headers = {"Content-Type": "application/sdp"}
                    if copy:  # a fan-out process's copy: process 0 does not count it as a viewer
                        headers[COPY_HEADER] = "fan-out" if self.worker is None else str(self.worker)
                    async with http.post(f"{origin}/whep/{channel}", data=sdp.encode(), headers=headers) as r:
                        if r.status != 201:
                            raise RuntimeError(f"origin answered {r.status}: {(await r.text())[:200]}",
                                               int(r.headers.get("Retry-After", RETRY_AFTER_S)), r.status)
                        location.append(str(r.url.join(URL(r.headers["Location"]))))
                        try:
                            programme.append(float(r.headers[PROGRAMME_HEADER]))
                        except (KeyError, ValueError):
                            programme.append(None)
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
                    if failing is not None:
                        log.info("relay %s from %s: pulling again", channel, origin)
                        failing = None
                    if copy and programme and programme[0] is not None:  # unknown: never dropped for it
                        self._copied[channel] = (programme[0], time.monotonic())
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
                    refused = len(exc.args) > 2 and exc.args[2] != 409  # e.g. 503 full: its Retry-After holds
                    tell(logging.INFO, exc.args[0])
                except Exception as exc:  # noqa: BLE001 - keep the relay alive whatever the origin does
                    # once per kind of failure: a fan-out process's copy retries about every second
                    # while process 0 is down, and said so each time
                    tell(logging.WARNING, repr(exc))
                finally:
                    if copy:
                        self._copied.pop(channel, None)
                if not copy or refused:
                    await asyncio.sleep(min(max(delay, 1), 30))
                    continue
                wake.clear()  # a copy not up (not live, or process 0 not answering): again after the delay,
                try:          # or as soon as the mirror sees the channel live at process 0 (within MIRROR_EVERY_S)
                    await asyncio.wait_for(wake.wait(), min(max(delay, 1), 30))
                except asyncio.TimeoutError:
                    pass


def _nobody_listens(exc: BaseException) -> bool:
    """Whether reading the media process failed because no process listens on its Unix socket
    (refused, or the socket file missing): it died, or is starting again. A slow process times
    out instead."""
    os_error = getattr(exc, "os_error", None)
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(os_error, (ConnectionRefusedError,
                                                                                   FileNotFoundError))

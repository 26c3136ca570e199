"""The broadcast service: the live channels, their settings and recordings, and relay loops.

:class:`broadcast.channels.Broadcaster` holds the media (sessions, the shared encoder, the
fan-out); this service adds what lives beyond one session: channel settings and
recordings in the store (:mod:`councilcast.stores.broadcast`), the captions of each
channel, the relay loops that keep pulling an origin's channels, and the demo's cameras.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path

import aiohttp
from yarl import URL

from broadcast import libinternals
from broadcast.captions import Captions
from broadcast.channels import Broadcaster, Session, SessionLimits
from broadcast.errors import RETRY_AFTER_S
from broadcast.relay import pull
from broadcast.trickle import parse_sdpfrag
from councilcast.storage import Database
from councilcast.stores import broadcast as store

__all__ = ["BroadcastService", "DEFAULT_CHANNELS"]

log = logging.getLogger(__name__)

DEFAULT_CHANNELS = [
    # name, title, companion
    ("central", "Central Assembly", "central-sign"),
    ("central-sign", "Central Assembly: sign-language interpreter", None),
    ("council", "Central Council", None),
]


class BroadcastService:
    def __init__(self, db: Database, data_path: Path, limits: SessionLimits | None = None):
        self.db = db
        self.data_path = data_path
        self.broadcaster = Broadcaster(data_path / "recordings", limits=limits, on_recording=self._store_recording)
        self.captions: dict[str, Captions] = {}
        self._tasks: list[asyncio.Task] = []

    # -- start and stop ------------------------------------------------------------------
    async def start(self, *, relay_origin: str | None = None, relay_channels: str | None = None,
                    demo: bool = False) -> None:
        """Define the default and saved channels; then relay an origin, or put the demo camera on air."""
        checked = libinternals.self_check()  # once, before the first viewer: which per-packet path runs
        refused = {k: v for k, v in checked["refused"].items() if v}
        log.info("broadcast: per-packet path %s%s", checked["path"], f" (refused: {refused})" if refused else "")
        bc = self.broadcaster
        for name, title, companion in DEFAULT_CHANNELS:
            bc.define(name, title, companion)
        for r in await self.db.read(store.list_channels):
            bc.define(r["name"], r["title"], r["companion"], r["captions_url"])
        if relay_origin:
            origin = relay_origin.rstrip("/")
            for name in await self._relay_channels(origin, relay_channels):
                self._tasks.append(asyncio.ensure_future(self._relay_loop(origin, name)))
        elif demo:
            bc.start_camera("central", 1280, 720, 30)
            bc.start_camera("central-sign", 320, 240, 15)

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
        """Every channel by name (the live media state, for the pages)."""
        return self.broadcaster.channels

    def channel(self, name: str):
        """The channel ``name``, or BroadcastError ``unknown_channel`` (404)."""
        return self.broadcaster.get(name)

    def channel_info(self, name: str) -> dict:
        """A channel as the API shows it: its state, and where to watch and caption it."""
        info = self.broadcaster.get(name).info()
        info.update(whep=f"/whep/{name}", watch=f"/watch/{name}", captions=f"/api/channels/{name}/captions")
        return info

    def channel_infos(self) -> list[dict]:
        return [self.channel_info(n) for n in sorted(self.broadcaster.channels)]

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
    async def recordings(self, channel: str | None = None) -> list[dict]:
        """Recordings (newest first) with their public ``url`` and ``page``, without the file path."""
        rows = await self.db.read(lambda c: store.list_recordings(c, channel))
        for r in rows:
            r["url"] = f"/recordings/{r['id']}.webm"
            r["page"] = f"/recordings/{r['id']}"
            r.pop("file", None)
        return rows

    async def recording(self, rid: str) -> dict | None:
        return await self.db.read(lambda c: store.get_recording(c, rid))

    async def _store_recording(self, channel: str, rec) -> None:
        try:
            rel = str(Path(rec.path).resolve().relative_to(self.data_path.resolve()))
        except ValueError:
            rel = str(rec.path)
        rid = secrets.token_urlsafe(9)
        await self.db.write(lambda c: store.insert_recording(c, rid, channel, rel, rec))

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

    async def _relay_loop(self, origin: str, channel: str) -> None:
        """Keep pulling ``channel`` from ``origin`` (retrying while it is not live)."""
        bc = self.broadcaster
        async with aiohttp.ClientSession() as http:
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
                    session = await pull(bc, channel, post_offer, on_close=hang_up)
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

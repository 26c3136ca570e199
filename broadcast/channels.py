"""Channels, their publishers and viewers: the broadcast area's state machine.

A :class:`Channel` is one programme (``central``, ``council``, a committee). It is
``idle`` until something goes on air, ``live`` while a :class:`~broadcast.program.Program`
runs, and ``ended`` after. At most one publisher per channel: a WHIP session, the
synthetic camera or a relay pull. Viewers are WHEP sessions; each has one aiortc peer
connection whose senders are fed by :mod:`broadcast.fanout`.

:class:`Broadcaster` owns every channel and session and closes them all in :meth:`close`.
It knows nothing of HTTP: the web layer turns :class:`~broadcast.errors.BroadcastError`
into status codes.

Sessions are bounded (:class:`SessionLimits`): at most ``max_sessions`` WHIP and WHEP
sessions in all and ``per_client`` from one client address, counting those still being
negotiated; a session whose peer has not connected ``connect_timeout`` seconds after its
answer is closed. A request past a bound is refused (``full``, 503 with Retry-After) before
any peer connection (and its sockets) is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from broadcast import ice, libinternals
from broadcast.errors import BroadcastError
from broadcast.synthetic import SIZE_LIMITS
from broadcast.fanout import MID_URI, IdleTrack, Sink
from broadcast.offers import check_offer
from broadcast.program import Program, track_frames
from broadcast.recorder import Recorder, RecordingInfo
from broadcast.synthetic import SyntheticCamera

__all__ = ["Broadcaster", "Channel", "Session", "SessionLimits", "CHANNEL_NAME"]

log = logging.getLogger(__name__)

CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_CODEC_KEYS = {"video/vp8": "vp8", "video/h264": "h264", "audio/opus": "opus"}


@dataclass(frozen=True)
class SessionLimits:
    """Bounds on the WHIP and WHEP sessions of one server (relay pulls are not counted)."""

    max_sessions: int = 500
    """Sessions in all, connected or not."""
    per_client: int = 50
    """Sessions from one client address (a room's screens, or phones behind one NAT)."""
    connect_timeout: float = 10.0
    """Seconds after the answer within which the peer must connect, or the session closes."""


@dataclass
class Session:
    """One WHIP (publisher), WHEP (viewer) or relay peer connection."""

    id: str
    kind: str
    channel: str
    pc: RTCPeerConnection | None
    client: str | None = None
    """The client's address (for :attr:`SessionLimits.per_client`); None for relay pulls."""
    created_at: float = field(default_factory=time.time)
    sinks: list[Sink] = field(default_factory=list)
    codecs: dict[str, str] = field(default_factory=dict)
    connected_at: float | None = None
    closed: bool = False
    on_close: Callable[[], Awaitable[None]] | None = None
    expiry: asyncio.TimerHandle | None = None


@dataclass
class Channel:
    name: str
    title: str
    companion: str | None = None
    """Name of a companion channel (a sign-language interpreter) shown beside this one."""
    captions_url: str | None = None
    """URL of a WebVTT caption track for this channel, when a caption source is configured."""
    state: str = "idle"
    program: Program | None = None
    publisher: Session | None = None
    source: str | None = None
    live_since: float | None = None
    viewers: dict[str, Session] = field(default_factory=dict)
    ending: asyncio.Future | None = None

    @property
    def watching(self) -> int:
        """Viewers whose peer connected (a posted offer that never connects is no viewer)."""
        return sum(s.connected_at is not None for s in self.viewers.values())

    def info(self) -> dict:
        return {
            "name": self.name, "title": self.title, "state": self.state, "viewers": self.watching,
            "companion": self.companion, "captions_url": self.captions_url, "source": self.source,
            "live_since": self.live_since,
        }


def as_dtls_server(answer: RTCSessionDescription) -> RTCSessionDescription:
    """The answer with ``a=setup:passive``: the server is the DTLS server, so it picks the SRTP
    profile from the viewer's list by its own preference (AES-GCM first, where libsrtp has it).

    aiortc answers ``active`` (DTLS client); the browser, as DTLS server, then picks by *its*
    preference, and Chromium picked AES_CM_128_HMAC_SHA1_80 although it offers AES-GCM, whose
    protect costs about half as much per packet. ``passive`` is a valid answer to the
    ``actpass`` that every WHEP offer carries (RFC 8842, section 5.3); aiortc takes the role
    from the answer it is given (setLocalDescription).
    """
    sdp = answer.sdp.replace("a=setup:active", "a=setup:passive")
    return RTCSessionDescription(sdp, answer.type)


class Broadcaster:
    """Every channel and session of one server."""

    def __init__(self, recordings_dir: Path | None = None, *, bitrate: int = 1_500_000, fps: int = 30,
                 keyframe_interval: float = 2.0, limits: SessionLimits | None = None,
                 on_recording: Callable[[str, RecordingInfo], Awaitable[None] | None] | None = None,
                 session_prefix: str = "", lean_joins: bool = True):
        self.session_prefix = session_prefix
        """Put before every WHIP/WHEP session id (``w1.`` in a process of ``serve --workers N``, so
        that a session URL names the process that holds it); 192 random bits follow it."""
        self.recordings_dir = Path(recordings_dir) if recordings_dir else None
        self.bitrate = bitrate
        self.fps = fps
        self.keyframe_interval = keyframe_interval
        self.on_recording = on_recording
        self.limits = limits or SessionLimits()
        self.channels: dict[str, Channel] = {}
        self.sessions: dict[str, Session] = {}
        self._negotiating: dict[str | None, int] = {}  # client -> offers being answered now
        self._pending: set[asyncio.Task] = set()
        self.closed = False
        self.ice_servers: list = []
        """The server peers' STUN servers, as IP literals (:mod:`broadcast.ice`); none by default."""
        self.lean_joins = lean_joins
        """A WHEP viewer's peer is negotiated in :func:`broadcast.libinternals.lean_join`: the shared
        DTLS certificate, no receiver bitrate estimator, the offer parsed once, codecs matched
        without deep copies, the address list cached (docs/broadcast.md, "Joining"). False:
        aiortc's own set-up, step for step (the benchmark's comparison)."""
        self.host_addresses: list[str] | None = None
        """The addresses a WHEP viewer's peer gathers host candidates on, those of them that are on
        this machine (None, or none of them here: every address aioice would use)."""

    def new_peer(self) -> RTCPeerConnection:
        """A server-side peer with exactly :attr:`ice_servers`: never aiortc's default public
        STUN server, whose name aioice would look up on every join."""
        return RTCPeerConnection(ice.configuration(self.ice_servers))

    # -- channels ----------------------------------------------------------------------
    def define(self, name: str, title: str | None = None, companion: str | None = None,
               captions_url: str | None = None) -> Channel:
        """Create (or update the settings of) a channel."""
        if not CHANNEL_NAME.match(name or ""):
            raise BroadcastError("bad_channel", "name", "a channel name is 1-40 of a-z, 0-9 and '-', starting alphanumeric")
        if companion is not None and not CHANNEL_NAME.match(companion):
            raise BroadcastError("bad_channel", "companion", "the companion must be a channel name")
        if companion == name:
            raise BroadcastError("bad_channel", "companion", "a channel cannot be its own companion")
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = Channel(name, title or name)
        elif title:
            ch.title = title
        ch.companion = companion
        ch.captions_url = captions_url
        return ch

    def get(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None:
            raise BroadcastError("unknown_channel", "channel", f"no channel named {name!r}")
        return ch

    def session(self, sid: str, kind: str | None = None) -> Session:
        s = self.sessions.get(sid)
        if s is None or (kind is not None and s.kind != kind):
            raise BroadcastError("unknown_session", None, "no such session (ended, or never existed)")
        return s

    # -- going on air --------------------------------------------------------------------
    def go_live(self, name: str, video, audio, *, source: str, publisher: Session | None = None,
                record: bool = True, upstream=None) -> Program:
        """Put ``video``/``audio`` (async iterators of frames) on air on channel ``name``.

        ``record=False``: no recording (a relay's default). ``upstream``: a relay's
        :class:`~broadcast.forward.Forwarder`, whose encoded frames go on air as they are
        (``video`` and ``audio`` are then None).
        """
        ch = self.get(name)
        if ch.state == "live":
            raise BroadcastError("busy", "channel", f"channel {name!r} already has a publisher ({ch.source})")
        recorder = None
        if self.recordings_dir is not None and record:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            recorder = Recorder(self.recordings_dir / name / f"{name}-{stamp}-{secrets.token_hex(3)}.webm", self.fps)
        program = Program(name, video, audio, bitrate=self.bitrate, fps=self.fps,
                          keyframe_interval=self.keyframe_interval, recorder=recorder, upstream=upstream,
                          on_end=lambda p: self._spawn(self._program_ended(name, p)))
        ch.program, ch.publisher, ch.source = program, publisher, source
        ch.state, ch.live_since = "live", time.time()
        program.start()
        return program

    def start_camera(self, name: str, width: int = 1280, height: int = 720, fps: int | None = None) -> Program:
        """Put the synthetic camera on channel ``name``."""
        for key, v in (("width", width), ("height", height)):
            lo, hi = SIZE_LIMITS[key]
            if not lo <= v <= hi or v % 2:
                raise BroadcastError("bad_camera", key, f"the camera makes {key}s of an even number in [{lo}, {hi}]")
        cam = SyntheticCamera(name, width, height, fps or self.fps)
        return self.go_live(name, cam.video_frames(), cam.audio_frames(), source="camera")

    async def end(self, name: str) -> RecordingInfo | None:
        """Take channel ``name`` off air (its viewers are disconnected; the recording closes).

        Whoever calls first does the work; a concurrent call (the publisher's DELETE while its
        track ends) waits for that same work, so the recording is stored when either returns.
        """
        ch = self.get(name)
        if ch.ending is not None:
            return await asyncio.shield(ch.ending)
        if ch.program is None:
            return None
        ch.ending = asyncio.ensure_future(self._end(ch))
        try:
            return await asyncio.shield(ch.ending)
        finally:
            if ch.ending is not None and ch.ending.done():
                ch.ending = None

    async def _end(self, ch: Channel) -> RecordingInfo | None:
        program, publisher = ch.program, ch.publisher
        ch.program, ch.publisher = None, None
        ch.state = "ended"
        rec = await program.stop()
        if publisher is not None:
            await self.close_session(publisher.id, end_channel=False)
        for sid in list(ch.viewers):
            await self.close_session(sid)
        await self._recorded(ch.name, rec)
        ch.ending = None
        return rec

    async def _program_ended(self, name: str, program: Program) -> None:
        ch = self.channels.get(name)
        if ch is not None and ch.program is program:
            await self.end(name)

    async def _recorded(self, name: str, rec: RecordingInfo | None) -> None:
        if rec is None or self.on_recording is None:
            return
        try:
            out = self.on_recording(name, rec)
            if inspect.isawaitable(out):
                await out
        except Exception:
            log.exception("storing the recording of %s", name)

    # -- WHIP: a publisher -----------------------------------------------------------------
    async def publish(self, name: str, offer: str, client: str | None = None) -> tuple[Session, str]:
        """Take a WHIP offer for channel ``name`` from address ``client``; returns the session
        and the SDP answer."""
        ch = self.get(name)
        check_offer(offer, "whip")
        if ch.state == "live":
            raise BroadcastError("busy", "channel", f"channel {name!r} already has a publisher ({ch.source})")
        with self._slot(client):
            return await self._publish(ch, offer, client)

    async def _publish(self, ch: Channel, offer: str, client: str | None) -> tuple[Session, str]:
        name = ch.name
        pc = self.new_peer()
        session = Session(self.session_prefix + secrets.token_urlsafe(24), "whip", name, pc, client)
        async with _closed_on_failure(pc):
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            video = audio = None
            for t in pc.getTransceivers():
                t.direction = "recvonly"
                if t.kind == "video":
                    video = t.receiver.track
                elif t.kind == "audio":
                    audio = t.receiver.track
                session.codecs[t.kind] = libinternals.transceiver_codecs(t)[0].mimeType
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        if ch.state == "live":  # another publisher won the race while we negotiated
            await pc.close()
            raise BroadcastError("busy", "channel", f"channel {name!r} already has a publisher")
        self.sessions[session.id] = session
        self._watch(session, expires=True)
        self.go_live(name, track_frames(video) if video else None, track_frames(audio) if audio else None,
                     source="whip", publisher=session)
        return session, pc.localDescription.sdp

    # -- WHEP: a viewer ------------------------------------------------------------------
    async def play(self, name: str, offer: str, client: str | None = None) -> tuple[Session, str]:
        """Take a WHEP offer for channel ``name`` from address ``client``; returns the session
        and the SDP answer."""
        ch = self.get(name)
        parsed = check_offer(offer, "whep")
        if ch.state != "live" or ch.program is None:
            raise BroadcastError("not_live", "channel", f"channel {name!r} is {ch.state}: nothing on air yet")
        with self._slot(client):
            if not self.lean_joins:
                return await self._play(ch, offer, client)
            # ICE-lite only with host candidates alone: an agent that gathers through a STUN or
            # TURN server (COUNCILCAST_ICE_SERVERS) is behind a NAT and must run its own checks
            with libinternals.lean_join((offer, parsed), self.host_addresses, dtls_role="server",
                                        ice_lite=not self.ice_servers):
                return await self._play(ch, offer, client)

    async def _play(self, ch: Channel, offer: str, client: str | None) -> tuple[Session, str]:
        name = ch.name
        pc = self.new_peer()
        session = Session(self.session_prefix + secrets.token_urlsafe(24), "whep", name, pc, client)
        plan = []
        offered = ch.program.codecs  # a relay's forwarded programme sends VP8 and Opus only
        async with _closed_on_failure(pc):
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            for t in pc.getTransceivers():
                track = IdleTrack(t.kind)
                pc.addTrack(track)  # reuses the offer's transceiver of that kind
                t.direction = "sendonly"
                # the viewer's order wins among the codecs this programme sends (any codec of
                # the answer may be sent: the viewer is ready for each payload type it lists)
                negotiated = libinternals.transceiver_codecs(t)
                codec, key = next(((c, _CODEC_KEYS.get(c.mimeType.lower())) for c in negotiated
                                   if _CODEC_KEYS.get(c.mimeType.lower()) in offered), (None, None))
                if key is None:
                    names = ", ".join(c.mimeType for c in negotiated) or "none"
                    raise BroadcastError("unsupported", "body", f"no codec we send on this channel among {names}")
                session.codecs[t.kind] = key
                ext = next((e.id for e in libinternals.transceiver_header_extensions(t) if e.uri == MID_URI), None)
                plan.append((t, key, codec.payloadType, ext))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(as_dtls_server(answer))
        program = ch.program
        if program is None:
            await pc.close()
            raise BroadcastError("not_live", "channel", f"channel {name!r} went off air")
        for t, key, pt, ext in plan:
            session.sinks.append(Sink(program.streams[key], t.sender, pt, t.mid, ext))
        self.sessions[session.id] = session
        ch.viewers[session.id] = session
        self._watch(session, expires=True)
        return session, pc.localDescription.sdp

    # -- bounds --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _slot(self, client: str | None):
        """Hold one of the bounded session slots while an offer is answered, or refuse (full)."""
        lim = self.limits
        counted = [s for s in self.sessions.values() if s.kind in ("whip", "whep")]
        if len(counted) + sum(self._negotiating.values()) >= lim.max_sessions:
            raise BroadcastError("full", None, f"this server holds at most {lim.max_sessions} media sessions: "
                                               "try again later")
        mine = sum(s.client == client for s in counted) + self._negotiating.get(client, 0)
        if mine >= lim.per_client:
            raise BroadcastError("full", None, f"at most {lim.per_client} media sessions from one address: "
                                               "end one (DELETE its session URL) or try again later")
        self._negotiating[client] = self._negotiating.get(client, 0) + 1
        try:
            yield
        finally:
            left = self._negotiating[client] - 1
            if left:
                self._negotiating[client] = left
            else:
                del self._negotiating[client]

    def _expire(self, session: Session) -> None:
        session.expiry = None
        if session.connected_at is None and not session.closed:
            log.debug("%s session %s on %s: not connected after %.0f s, closed", session.kind, session.id[:6],
                     session.channel, self.limits.connect_timeout)
            self._spawn(self.close_session(session.id))

    def _watch(self, session: Session, *, expires: bool = False) -> None:
        pc = session.pc
        if expires:
            session.expiry = asyncio.get_running_loop().call_later(self.limits.connect_timeout, self._expire, session)

        @pc.on("connectionstatechange")
        async def changed():
            state = pc.connectionState
            if state == "connected" and session.connected_at is None and not session.closed:
                session.connected_at = time.time()
                if session.expiry is not None:
                    session.expiry.cancel()
                    session.expiry = None
                for sink in session.sinks:
                    sink.attach()
            elif state in ("failed", "closed") and not session.closed:
                await self.close_session(session.id)

    async def close_session(self, sid: str, *, end_channel: bool = True) -> None:
        """End one session (DELETE, a failed connection, or the channel going off air).

        Closing a channel's publisher takes the channel off air (unless ``end_channel`` is
        False, as when :meth:`end` itself closes it).
        """
        s = self.sessions.get(sid)
        if s is None or s.closed:
            return
        ch = self.channels.get(s.channel)
        if end_channel and ch is not None and ch.publisher is s:
            await self.end(s.channel)
            return
        self.sessions.pop(sid, None)
        s.closed = True
        if s.expiry is not None:
            s.expiry.cancel()
            s.expiry = None
        for sink in s.sinks:
            sink.close()
        if ch is not None:
            ch.viewers.pop(sid, None)
        if s.pc is not None:
            for t in s.pc.getTransceivers():
                if t.sender.track is not None:
                    t.sender.track.stop()
            await s.pc.close()
        if s.on_close is not None:
            await s.on_close()

    # -- relay: pull a channel from an origin ----------------------------------------------
    def adopt(self, session: Session) -> None:
        """Register a session made elsewhere (a relay's pull) so that close() ends it."""
        self.sessions[session.id] = session
        self._watch(session)

    # -- housekeeping ------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def stats(self) -> dict:
        return {
            "channels": {n: {**c.info(), "program": c.program.stats() if c.program else None}
                         for n, c in self.channels.items()},
            "sessions": {"whip": sum(s.kind == "whip" for s in self.sessions.values()),
                         "whep": sum(s.kind == "whep" for s in self.sessions.values()),
                         "relay": sum(s.kind == "relay" for s in self.sessions.values())},
            "connected": {"whip": sum(s.kind == "whip" and s.connected_at is not None for s in self.sessions.values()),
                          "whep": sum(s.kind == "whep" and s.connected_at is not None for s in self.sessions.values())},
            "limits": {"max_sessions": self.limits.max_sessions, "per_client": self.limits.per_client,
                       "connect_timeout_s": self.limits.connect_timeout},
        }

    async def close(self) -> None:
        """Stop every programme and close every peer connection."""
        self.closed = True
        for name, ch in list(self.channels.items()):
            if ch.program is not None:
                await self.end(name)
        for sid in list(self.sessions):
            await self.close_session(sid)
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@contextlib.asynccontextmanager
async def _closed_on_failure(pc: RTCPeerConnection):
    """Negotiating an offer: on any failure close ``pc`` (nothing left behind); an error that
    is not already a :class:`BroadcastError` means we cannot answer this offer (406)."""
    try:
        yield
    except BroadcastError:
        await pc.close()
        raise
    except Exception as exc:
        await pc.close()
        raise BroadcastError("unsupported", "body", f"cannot answer this offer: {exc}") from None

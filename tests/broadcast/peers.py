"""Real aiortc peers for the broadcast tests: a WHIP publisher and WHEP viewers over HTTP."""

from __future__ import annotations

import asyncio
import fractions
import time

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from broadcast.ice import configuration
from broadcast.synthetic import SyntheticCamera, read_clock


class CameraTrack(VideoStreamTrack):
    """The synthetic camera as an aiortc track (what a WHIP studio would send)."""

    def __init__(self, name: str, width: int, height: int):
        super().__init__()
        self.cam = SyntheticCamera(name, width, height)
        self.i = 0

    async def recv(self):
        pts, tb = await self.next_timestamp()
        frame = self.cam.make_video_frame(self.i)
        self.i += 1
        frame.pts, frame.time_base = pts, tb
        return frame


async def offer_pc(kinds=("video", "audio"), direction="recvonly", tracks=None) -> RTCPeerConnection:
    # no STUN server: on loopback none is needed, and aiortc's default would make aioice look
    # up a public name before every offer (the test of a hanging resolver relies on this too)
    pc = RTCPeerConnection(configuration([]))
    if tracks:
        for t in tracks:
            pc.addTransceiver(t, direction=direction)
    else:
        for k in kinds:
            pc.addTransceiver(k, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    return pc


class Publisher:
    """A WHIP client sending the synthetic camera and a tone."""

    def __init__(self, base: str, channel: str, token: str, width=320, height=240):
        self.url = f"{base}/whip/{channel}"
        self.base = base
        self.token = token
        self.tracks = [CameraTrack(channel, width, height), AudioStreamTrack()]
        self.pc: RTCPeerConnection | None = None
        self.location: str | None = None

    async def start(self, session: aiohttp.ClientSession) -> aiohttp.ClientResponse:
        self.pc = await offer_pc(direction="sendonly", tracks=self.tracks)
        async with session.post(self.url, data=self.pc.localDescription.sdp,
                                headers={"Content-Type": "application/sdp",
                                         "Authorization": f"Bearer {self.token}"}) as r:
            body = await r.text()
            if r.status == 201:
                self.location = self.base + r.headers["Location"]
                await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            else:
                await self.pc.close()
            r.body_text = body
            return r

    async def stop(self, session: aiohttp.ClientSession) -> int | None:
        status = None
        if self.location:
            async with session.delete(self.location, headers={"Authorization": f"Bearer {self.token}"}) as r:
                status = r.status
        if self.pc:
            await self.pc.close()
        return status


class Viewer:
    """A WHEP client; ``frames()`` decodes video, ``count_packets`` does not."""

    def __init__(self, base: str, channel: str):
        self.url = f"{base}/whep/{channel}"
        self.base = base
        self.pc: RTCPeerConnection | None = None
        self.location: str | None = None
        self.t_post = 0.0

    async def start(self, session: aiohttp.ClientSession, kinds=("video", "audio")) -> aiohttp.ClientResponse:
        self.pc = await offer_pc(kinds)
        self.t_post = time.monotonic()
        async with session.post(self.url, data=self.pc.localDescription.sdp,
                                headers={"Content-Type": "application/sdp"}) as r:
            body = await r.text()
            r.body_text = body
            if r.status == 201:
                self.location = self.base + r.headers["Location"]
                await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            else:
                await self.pc.close()
            return r

    def track(self, kind: str):
        return next(t.receiver.track for t in self.pc.getTransceivers() if t.kind == kind)

    async def frames(self, n: int, kind="video", timeout=20.0) -> list:
        track = self.track(kind)
        out = []
        async with asyncio.timeout(timeout):
            while len(out) < n:
                out.append(await track.recv())
        return out

    async def stop(self, session: aiohttp.ClientSession) -> int | None:
        status = None
        if self.location:
            async with session.delete(self.location) as r:
                status = r.status
        if self.pc:
            await self.pc.close()
        return status


def latency_ms(frame) -> float | None:
    stamp = read_clock(frame)
    return None if stamp is None else time.time() * 1000 - stamp


__all__ = ["Publisher", "Viewer", "CameraTrack", "offer_pc", "latency_ms", "fractions"]

"""A WHEP viewer in its own process, printing one line per decoded frame (for the slow-viewer test)."""

import asyncio
import sys

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription


async def main(url: str) -> None:
    pc = RTCPeerConnection()
    t = pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}) as r:
            assert r.status == 201, await r.text()
            answer = await r.text()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    n = 0
    while True:
        frame = await t.receiver.track.recv()
        n += 1
        print(f"FRAME {n} {frame.width}x{frame.height}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

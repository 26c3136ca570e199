"""Handing the broadcast routes to the process that holds the media (``serve --workers N``).

Media sessions live in one process: a WHEP session's peer connection, its ICE sockets, the
shared encoder and the fan-out cannot move between processes, and a session URL
(``PATCH``/``DELETE /whep/{channel}/{session}``) must reach the process that answered the
``POST``. So every process but the media one forwards the broadcast area's requests to it
(:class:`MediaProxy`), over a Unix socket that only this user can open, and passes the answer
back as it came: status, every header (``Location``, repeated ``Link``, ``ETag``,
``Accept-Patch``, ``Retry-After``, ``Content-Range``...) and the body, streamed. Why a proxy
and not ``307`` to the media process: all the processes share one address (SO_REUSEPORT), so
the media process has no public address of its own to send a client to, and WHIP/WHEP
clients need not follow redirects. The ICE candidates in the answer are the media process's
own, on the same machine, so the viewer's media goes straight to it; only the few HTTP
requests of a session pass through the proxy.

The client's address, which the media process bounds sessions by
(``COUNCILCAST_MEDIA_MAX_SESSIONS_PER_ADDRESS``), travels in ``X-Councilcast-Client``; the media
process believes it only on a request that came through its Unix socket
(:func:`client_address`), and the proxy replaces whatever a client sent in it.

A fan-out process's pull of a live channel (``serve --workers N``) is a WHEP session at
process 0 like a viewer's, but it is no viewer: its ``POST`` says so in ``X-Councilcast-Copy``
(:data:`COPY_HEADER`), believed only over the Unix socket (:func:`copy_of`) and never passed
on by the proxy, and the answer tells the puller which programme it copies
(:data:`PROGRAMME_HEADER`, the channel's ``live_since``).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
from aiohttp import web
from yarl import URL

from councilcast.errors import ApiError
from councilcast.middleware import CORS
from councilcast.services.broadcast import COPY_HEADER, PROGRAMME_HEADER

__all__ = ["MediaProxy", "client_address", "copy_of", "from_a_worker", "CLIENT_HEADER", "COPY_HEADER",
           "PROGRAMME_HEADER"]

log = logging.getLogger(__name__)

CLIENT_HEADER = "X-Councilcast-Client"
"""The client's address, set by the proxy; believed only over the media process's Unix socket."""

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
               "trailer", "transfer-encoding", "upgrade", "content-length"}
_NOT_FORWARDED = _HOP_BY_HOP | {CLIENT_HEADER.lower(), COPY_HEADER.lower()}

RETRY_AFTER_S = 2
"""What a client is told to wait when the media process does not answer (it is being restarted)."""


def client_address(request: web.Request) -> str | None:
    """The address media sessions are counted by: the TCP peer, or, on a request the proxy of
    another process sent over this process's Unix socket, the client address it passed on."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family == socket.AF_UNIX:
        return request.headers.get(CLIENT_HEADER) or None
    return request.remote


def from_a_worker(request: web.Request) -> bool:
    """Whether ``request`` came over this process's Unix socket (from another process of
    ``serve --workers N``; only this user can open the socket)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock is not None and sock.family == socket.AF_UNIX


def copy_of(request: web.Request) -> str | None:
    """The fan-out process a WHEP ``POST`` pulls a copy for (:data:`COPY_HEADER`), believed only
    over the Unix socket; None for a viewer."""
    return request.headers.get(COPY_HEADER) or None if from_a_worker(request) else None


class MediaProxy:
    """Forwards requests to the process at ``target`` (``unix:/path`` or ``http://host:port``):
    the media process, or (``serve --workers N``) the worker that holds a session, ``name``
    in the logs and in the 503 a client gets when it does not answer.

    :meth:`lifecycle` (a ``cleanup_ctx`` entry) opens and closes its HTTP client; :meth:`forward`
    is a request handler; :meth:`get_json` reads one of the media process's JSON resources.
    """

    def __init__(self, target: str, *, connect_timeout: float = 5.0, read_timeout: float = 120.0,
                 name: str = "the media process"):
        self.name = name
        if target.startswith("unix:"):
            self.socket_path: str | None = target[len("unix:"):]
            self.base = "http://media"
        elif target.startswith(("http://", "https://")):
            self.socket_path = None
            self.base = target.rstrip("/")
        else:
            raise SystemExit(f"COUNCILCAST_MEDIA_URL must be unix:/path or an http(s) URL, got {target!r}")
        self.timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        self.http: aiohttp.ClientSession | None = None
        self.forwarded = 0
        self.unreachable = 0

    async def open(self) -> None:
        # Idle connections are dropped before the media process's keep-alive timer drops them
        # (COUNCILCAST_HEADER_TIMEOUT, 15 s), so a request never goes out on a closed one.
        kw = {"keepalive_timeout": 5.0, "limit": 0}
        connector = aiohttp.UnixConnector(self.socket_path, **kw) if self.socket_path else aiohttp.TCPConnector(**kw)
        self.http = aiohttp.ClientSession(connector=connector, timeout=self.timeout, auto_decompress=False,
                                          cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def lifecycle(self, app: web.Application):
        await self.open()
        yield
        await self.close()

    def _unreachable(self, exc: BaseException) -> ApiError:
        self.unreachable += 1
        log.warning("%s at %s does not answer: %r", self.name, self.socket_path or self.base, exc)
        return ApiError(503, None, f"{self.name} does not answer (it may be restarting); retry",
                        headers={**CORS, "Retry-After": str(RETRY_AFTER_S)})

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Send ``request`` to the target process; its answer, as it came."""
        assert self.http is not None, "MediaProxy.open() was not called"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]
        headers.append((CLIENT_HEADER, request.remote or ""))
        body = await request.read() if request.body_exists else None
        url = URL(self.base + request.raw_path, encoded=True)
        try:
            upstream = await self.http.request(request.method, url, headers=headers, data=body,
                                               allow_redirects=False)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None
        try:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_BY_HOP:
                    resp.headers.add(k, v)
            if upstream.content_length is not None:
                resp.content_length = upstream.content_length
            await resp.prepare(request)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await resp.write(chunk)
            await resp.write_eof()
            self.forwarded += 1
            return resp
        finally:
            upstream.release()

    async def get_json(self, path: str):
        """``GET path`` at the media process, decoded (for state mirrored here, such as the channels)."""
        assert self.http is not None, "MediaProxy.open() was not called"
        async with self.http.get(self.base + path) as r:
            r.raise_for_status()
            return await r.json()

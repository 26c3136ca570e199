"""Running the app: listen, print where, wait for a signal, shut down cleanly.

Read timeouts: a connection has ``config.header_timeout`` seconds to send a request's
headers, counted from its opening or from the previous answer (aiohttp's keep-alive timer,
which also closes an idle keep-alive connection); the body then has ``config.body_timeout``
seconds (:mod:`councilcast.middleware`). Neither limits a request being answered, so a
``/ws`` screen stays connected for as long as it likes.

One of the processes of ``serve --workers N`` (:mod:`councilcast.workers`) runs here too, given
its :class:`Worker`: it listens with SO_REUSEPORT beside the others, names itself (index and
pid) in its start-up line and in an ``X-Councilcast-Worker`` header on every answer, and
listens on its private Unix socket too (``w<i>.sock``), which the others hand media requests
and session URLs to.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

from aiohttp import web

from councilcast import gcstats
from councilcast.app import GENERATED_TOKENS, STARTUP_NOTES, create_app
from councilcast.config import Config

__all__ = ["run", "Worker", "WORKER_HEADER"]

WORKER_HEADER = "X-Councilcast-Worker"
"""``index=<i>; pid=<pid>`` of the process that answered, when ``serve --workers N`` runs."""


@dataclass(frozen=True)
class Worker:
    """One process of ``serve --workers N``: its index, whether it holds the media (process 0,
    unless the media is on another machine) and the private socket it listens on for the
    others' hand-offs (``media_socket``: every process's own, when process 0 holds the media)."""

    index: int
    count: int
    media: bool = False
    media_socket: str | None = None


async def run(config: Config, ready: asyncio.Event | None = None, worker: Worker | None = None) -> None:
    app = create_app(config)
    if worker is not None:
        name = f"index={worker.index}; pid={os.getpid()}"

        async def name_the_worker(request: web.Request, response: web.StreamResponse) -> None:
            response.headers[WORKER_HEADER] = name

        app.on_response_prepare.append(name_the_worker)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True, reuse_port=worker is not None or None)
    await site.start()
    if worker is not None and worker.media_socket:
        await web.UnixSite(runner, worker.media_socket).start()
    port = runner.addresses[0][1] if runner.addresses else config.port
    config.port = port
    for role, token in app[GENERATED_TOKENS].items():
        print(f"{role} token (shown once, keep it): {token}", flush=True)
    if worker is None:
        print(f"councilcast serving on http://{config.host}:{port}/ (database {config.db_display})", flush=True)
    else:
        role = "media, " if worker.media else "fan-out, " if worker.media_socket else ""
        print(f"councilcast worker {worker.index} of {worker.count} ({role}pid {os.getpid()}) serving on "
              f"http://{config.host}:{port}/ (database {config.db_display})", flush=True)
    for line in app[STARTUP_NOTES]:
        print(line.replace("{base}", config.base_url.rstrip("/")), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    gcstats.settle()  # start-up's objects frozen; a join storm's collections cheaper (docs/broadcast.md)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

"""Running the app: listen, print where, wait for a signal, shut down cleanly.

Read timeouts: a connection has ``config.header_timeout`` seconds to send a request's
headers, counted from its opening or from the previous answer (aiohttp's keep-alive timer,
which also closes an idle keep-alive connection); the body then has ``config.body_timeout``
seconds (:mod:`councilcast.middleware`). Neither limits a request being answered, so a
``/ws`` screen stays connected for as long as it likes.
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from councilcast.app import GENERATED_TOKENS, STARTUP_NOTES, create_app
from councilcast.config import Config


async def run(config: Config, ready: asyncio.Event | None = None) -> None:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.port
    config.port = port
    for role, token in app[GENERATED_TOKENS].items():
        print(f"{role} token (shown once, keep it): {token}", flush=True)
    print(f"councilcast serving on http://{config.host}:{port}/ (database {config.db_display})", flush=True)
    for line in app[STARTUP_NOTES]:
        print(line.replace("{base}", config.base_url.rstrip("/")), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

"""Running the app: listen, print where, wait for a signal, shut down cleanly."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from councilcast.app import GENERATED_TOKENS, create_app
from councilcast.config import Config


async def run(config: Config, ready: asyncio.Event | None = None) -> None:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.port
    config.port = port
    for role, token in app[GENERATED_TOKENS].items():
        print(f"{role} token (shown once, keep it): {token}", flush=True)
    print(f"councilcast serving on http://{config.host}:{port}/ (database {config.db})", flush=True)
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

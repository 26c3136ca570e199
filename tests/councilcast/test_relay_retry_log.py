"""A relay whose origin does not answer says so once, not at every retry.

A fan-out process's copy of a channel retries about every second while process 0 is down;
each attempt used to log the same warning. A real relay server (``create_app`` with
``relay_origin``) is pointed at a loopback port nobody listens on, its retry delay shortened
to a second: the failure is a warning once, the attempts after it are debug records.
"""

import logging

from aiohttp import web

from councilcast.app import create_app
from councilcast.services import broadcast as broadcast_service
from tests.pg import free_port
from tests.polling import until


async def test_the_same_failure_is_told_once(make_config, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(broadcast_service, "RETRY_AFTER_S", 0)  # an attempt a second
    dead = f"http://127.0.0.1:{free_port()}"
    config = make_config(db=str(tmp_path / "relay.db"), relay_origin=dead, relay_channels="central")
    caplog.set_level(logging.DEBUG, logger="councilcast.services.broadcast")
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        def attempts():
            return [r for r in caplog.records if r.getMessage().startswith(f"relay central from {dead}")]
        await until(lambda: len(attempts()) >= 3, timeout=20, what="three attempts at the dead origin")
        told = [r for r in attempts() if r.levelno >= logging.WARNING]
        assert len(told) == 1 and "trying again until it answers" in told[0].getMessage()
        assert all(r.levelno == logging.DEBUG and ": still " in r.getMessage() for r in attempts()[1:])
    finally:
        await runner.cleanup()

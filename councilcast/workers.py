"""``councilcast serve --workers N``: N server processes on one address, and their supervisor.

The supervisor (this module, the process the command starts) serves nothing itself:

1. It refuses SQLite at once (:func:`refusal`): one SQLite file has one writer, so several
   processes on it would wait on each other's locks and each see only its own events; the
   processes share a PostgreSQL database instead. Exit code 2, nothing started.
2. Once, before any server process: it opens the database (the migrations run, under their
   advisory lock), makes the secretariat's and the studio's tokens (printed once here, not N
   times: the database holds them, and the workers find them there) and creates the secret
   ballot's key file (so that N processes do not race to create it) (:func:`prepare`).
3. It starts N processes (``multiprocessing``'s *spawn*: fresh interpreters, nothing of the
   supervisor's state inherited), each :func:`councilcast.server.run` with its
   :class:`~councilcast.server.Worker`, listening on the same host and port with SO_REUSEPORT,
   so the kernel spreads new connections over them. Port 0 is resolved here once, and the port
   held by a bound, never listening socket of the same group while the supervisor runs.
4. Process 0 is the media process: WHIP, the synthetic cameras, recordings, relay loops of
   ``COUNCILCAST_RELAY_ORIGIN`` and the demo's session and simulated assemblies run there only.
   Every process listens on its own Unix socket, ``w<i>.sock`` in a private folder (mode
   0700). Every other process is a fan-out process (issue 14): it gets ``media_url =
   unix:<w0.sock>`` and hands the broadcast area to process 0 (:mod:`councilcast.media_proxy`),
   but pulls every live channel from it as a forwarding relay (over that socket for the HTTP,
   loopback UDP for the media) and answers ``POST /whep/{channel}`` itself, from its copy, so
   that joins spread over processes and cores. Session ids start with ``w<i>.``, and a session
   URL that reaches another process is forwarded to ``w<i>.sock``
   (:func:`councilcast.routes.broadcast.setup`). The wiring travels in ``Config.extra``
   (``worker_index``, ``worker_sockets``). On a machine whose ``media_url`` is set already (the
   media is on another machine) no process holds media: every one hands the broadcast routes to
   that URL, no process fans out, and the demo runs on the media host only.
5. A process that dies is started again after a back-off (:data:`BACKOFF_FIRST_S`, doubled at
   each death that follows a short life, at most :data:`BACKOFF_MAX_S`; logged). SIGINT and
   SIGTERM are passed to every process; the supervisor waits for them (SIGKILL after
   :data:`STOP_GRACE_S`), removes its folder and exits 0. On Linux each process also gets
   SIGTERM if the supervisor itself dies (``PR_SET_PDEATHSIG``).

Docs: docs/deploy.md (the process layout, several machines, what is per process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from councilcast.config import Config
from councilcast.stores.dialect import is_postgres

__all__ = ["serve", "refusal", "prepare", "BACKOFF_FIRST_S", "BACKOFF_MAX_S", "STABLE_S", "STOP_GRACE_S"]

log = logging.getLogger("councilcast.workers")

MEDIA_WORKER = 0
BACKOFF_FIRST_S = 0.5
"""Wait before starting again a process that died after a long life."""
BACKOFF_MAX_S = 30.0
"""The longest wait between two starts of a process that keeps dying."""
STABLE_S = 30.0
"""A process that lived this long before it died is started again after :data:`BACKOFF_FIRST_S`."""
STOP_GRACE_S = 20.0
"""How long the processes have to stop after SIGINT/SIGTERM before they are killed."""
FANOUT_NICE = 5
"""Niceness added to the fan-out processes (every one but process 0, when process 0 holds the
media): when the cores are all taken, the encoder that feeds every viewer of every process
wins over a join storm in a fan-out process (docs/broadcast.md, "Joining")."""


def refusal(config: Config) -> str | None:
    """Why ``config`` cannot run as several processes, or None."""
    if config.workers < 1:
        return f"--workers (COUNCILCAST_WORKERS) must be at least 1, got {config.workers}"
    if config.workers > 1 and not is_postgres(config.db):
        return (f"--workers {config.workers} needs a PostgreSQL database shared by the processes "
                f"(--db postgresql://user:password@host/dbname or COUNCILCAST_DB); {config.db_display} is a SQLite "
                "file, which has one writer: run one process on it (--workers 1), or move it to PostgreSQL with "
                "councilcast db copy --from FILE --to URL")
    return None


def prepare(config: Config) -> dict[str, str]:
    """Once, before the processes start: migrations, the roles' tokens, the ballot key file.
    Returns the tokens generated now (role -> token), to print once."""
    from councilcast.app import open_database
    from councilcast.auth import Auth
    from councilcast.keyfile import key_path, load_or_create

    db = open_database(config)
    try:
        auth = Auth(db)
        generated = {}
        for role, configured in (("secretariat", config.secretariat_token), ("studio", config.studio_token)):
            token = auth.ensure_role_token(role, configured)
            if token:
                generated[role] = token
    finally:
        db.close()
    load_or_create(key_path(config.db, config.key_file))
    return generated


def _reserve_port(host: str, port: int) -> tuple[socket.socket | None, int]:
    """Port 0: a free port, held by a bound socket of the SO_REUSEPORT group (never listening,
    so it is given no connection) for as long as the supervisor runs."""
    if port != 0:
        return None, port
    family, kind, proto, _, addr = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    s = socket.socket(family, kind, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(addr)
    return s, s.getsockname()[1]


def _die_with_supervisor(supervisor: int) -> None:
    """Linux: SIGTERM when the supervisor dies (even by SIGKILL), so no process outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor:  # it died before the call
        os._exit(1)


def worker_main(config: Config, index: int, count: int, media: bool, media_socket: str | None,
                supervisor: int) -> None:
    """The body of one server process."""
    from councilcast.server import Worker, run

    _die_with_supervisor(supervisor)
    if not media and media_socket and FANOUT_NICE:
        try:
            os.nice(FANOUT_NICE)
        except OSError:
            pass
    logging.basicConfig(level=config.log_level,
                        format=f"%(asctime)s %(levelname)s [worker {index}] %(name)s: %(message)s")
    try:
        asyncio.run(run(config, worker=Worker(index, count, media, media_socket)))
    except KeyboardInterrupt:
        pass


class Supervisor:
    """Starts the processes, starts again the ones that die, stops them all when asked."""

    def __init__(self, config: Config, port: int, folder: str):
        self.config = config
        self.port = port
        self.folder = folder
        self.count = config.workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self.started_at: dict[int, float] = {}
        self.backoff: dict[int, float] = {}
        self.restarts = 0
        self.stopping = False
        self._pending: dict[int, asyncio.TimerHandle] = {}
        self._all_exited = asyncio.Event()
        self._stop = asyncio.Event()

    def holds_media(self, index: int) -> bool:
        return index == MEDIA_WORKER and not self.config.media_url

    def socket_of(self, index: int) -> str:
        """The private Unix socket process ``index`` listens on (the others forward to it)."""
        return os.path.join(self.folder, f"w{index}.sock")

    def fans_out(self) -> bool:
        """Whether the processes share the media (process 0 holds it here): no ``media_url`` given."""
        return not self.config.media_url

    def own_socket(self, index: int) -> str | None:
        return self.socket_of(index) if self.fans_out() else None

    def worker_config(self, index: int) -> Config:
        media = self.holds_media(index)
        if not self.fans_out():  # the media is on another machine: every process hands it there
            return dataclasses.replace(self.config, port=self.port, workers=self.count)
        extra = {**self.config.extra, "worker_index": index,
                 "worker_sockets": [self.socket_of(i) for i in range(self.count)]}
        return dataclasses.replace(self.config, port=self.port, workers=self.count, extra=extra,
                                   media_url=None if media else f"unix:{self.socket_of(MEDIA_WORKER)}")

    def spawn(self, index: int) -> None:
        self._pending.pop(index, None)
        if self.stopping:
            return
        p = self.ctx.Process(target=worker_main, name=f"councilcast-worker-{index}",
                             args=(self.worker_config(index), index, self.count, self.holds_media(index),
                                   self.own_socket(index), os.getpid()))
        p.start()
        self.procs[index] = p
        self.started_at[index] = time.monotonic()
        asyncio.get_running_loop().add_reader(p.sentinel, self._exited, index)

    def _exited(self, index: int) -> None:
        p = self.procs[index]
        loop = asyncio.get_running_loop()
        loop.remove_reader(p.sentinel)
        p.join()
        if self.stopping:
            if not any(q.is_alive() for q in self.procs.values()):
                self._all_exited.set()
            return
        lived = time.monotonic() - self.started_at[index]
        delay = BACKOFF_FIRST_S if lived >= STABLE_S else min(BACKOFF_MAX_S, self.backoff.get(index, 0.0) * 2
                                                              or BACKOFF_FIRST_S)
        self.backoff[index] = delay
        self.restarts += 1
        how = f"signal {-p.exitcode}" if p.exitcode is not None and p.exitcode < 0 else f"code {p.exitcode}"
        log.warning("worker %d (pid %d) exited with %s after %.1f s; starting it again in %.1f s", index, p.pid,
                    how, lived, delay)
        self._pending[index] = loop.call_later(delay, self.spawn, index)

    def ask_to_stop(self, sig: int) -> None:
        first = not self.stopping
        self.stopping = True
        for h in self._pending.values():
            h.cancel()
        self._pending.clear()
        for p in self.procs.values():
            if p.is_alive():
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass
        if first:
            log.info("stopping %d worker(s) (%s)", sum(p.is_alive() for p in self.procs.values()),
                     signal.Signals(sig).name)
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.ask_to_stop, sig)
        for i in range(self.count):
            self.spawn(i)
        await self._stop.wait()
        if any(p.is_alive() for p in self.procs.values()):
            try:
                await asyncio.wait_for(self._all_exited.wait(), STOP_GRACE_S)
            except asyncio.TimeoutError:
                for i, p in self.procs.items():
                    if p.is_alive():
                        log.warning("worker %d (pid %d) did not stop within %.0f s: killed", i, p.pid, STOP_GRACE_S)
                        p.kill()
                        p.join()


def serve(config: Config) -> int:
    """``councilcast serve --workers N`` (N > 1): refuse, or prepare once and supervise N processes."""
    reason = refusal(config)
    if reason is not None:
        print(f"councilcast: {reason}", file=sys.stderr, flush=True)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s [supervisor] %(name)s: %(message)s")
    for role, token in prepare(config).items():
        print(f"{role} token (shown once, keep it): {token}", flush=True)
    held, port = _reserve_port(config.host, config.port)
    folder = tempfile.mkdtemp(prefix="councilcast-media-")  # mode 0700: only this user reaches the socket
    try:
        media = (f"media at {config.media_url}" if config.media_url
                 else f"worker {MEDIA_WORKER} holds the media, every worker fans out")
        print(f"councilcast supervisor (pid {os.getpid()}): {config.workers} workers on http://{config.host}:{port}/, "
              f"{media}", flush=True)
        supervisor = Supervisor(config, port, folder)
        asyncio.run(supervisor.run())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if held is not None:
            held.close()
    return 0

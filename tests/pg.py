"""A throwaway PostgreSQL cluster for the tests, and the fixture that runs a test on both stores.

- ``pg_cluster`` (session scope): ``initdb`` + ``pg_ctl start`` of Debian's PostgreSQL in a
  temporary directory, on a free port of 127.0.0.1 and a unix socket in that directory; run as
  the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as root). Stopped
  and removed at the end of the session. Started only when a test asks for PostgreSQL.
  ``scripts/test`` installs the ``postgresql`` package when it is missing; a missing server is
  a failure, never a skip.
- ``db_url`` (parametrized ``sqlite`` / ``postgresql``): import it into a test module to run
  that module's tests on both stores (``from tests.pg import db_url_both  # noqa: F401``);
  elsewhere ``tests/conftest.py``'s ``db_url`` is a fresh SQLite file. On PostgreSQL each test
  gets its own new database of the cluster.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PgCluster", "start_cluster", "pg_bindir", "db_url_both", "free_port"]

STORES = ["sqlite", "postgresql"]


def pg_bindir() -> Path:
    """The newest Debian PostgreSQL's bin directory (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    pytest.fail("PostgreSQL is missing (no /usr/lib/postgresql/*/bin/initdb): run scripts/test, which installs "
                "Debian's postgresql package")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the cluster's, and the tests' servers': tests/conftest.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    root: Path
    port: int
    user: str

    @property
    def socket_dir(self) -> str:
        return str(self.root / "sock")

    def url(self, dbname: str = "postgres", password: str | None = None, tcp: bool = False) -> str:
        cred = self.user + (f":{password}" if password else "")
        if tcp:
            return f"postgresql://{cred}@127.0.0.1:{self.port}/{dbname}"
        return f"postgresql://{cred}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """A new empty database of the cluster; its URL."""
        name = "t_" + secrets.token_hex(6)
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


def start_cluster(extra_options: str = "") -> tuple[PgCluster, callable]:
    """Start a cluster; returns it and the function that stops and removes it.

    ``extra_options``: more ``-c name=value`` settings, after the tests' own (so they win): the
    benchmarks pass ``-c fsync=on -c full_page_writes=on`` for figures on a durable cluster."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="councilcast-pg-"))
    owner = None
    if os.geteuid() == 0:  # PostgreSQL never runs as root: the cluster belongs to the postgres user
        owner = "postgres"
        pw = pwd.getpwnam(owner)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    user = owner or pwd.getpwuid(os.geteuid()).pw_name
    data, sock = root / "data", root / "sock"
    port = free_port()
    run = lambda cmd: subprocess.run(_as_owner(cmd, owner), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(["mkdir", str(sock)])
        run([str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8",
             "--locale=C.UTF-8"])
        # fsync off: a throwaway cluster; what the tests check is the server process's acknowledgements
        opts = (f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sock} -c fsync=off "
                "-c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB " + extra_options).strip()
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w", "-t", "60",
             "start"])
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.cmd}: {exc.stderr}{log}") from None
    cluster = PgCluster(root, port, user)

    def stop() -> None:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    return cluster, stop


@pytest.fixture(scope="session")
def pg_cluster():
    t0 = time.monotonic()
    cluster, stop = start_cluster()
    cluster.started_in = time.monotonic() - t0
    try:
        yield cluster
    finally:
        stop()


@pytest.fixture(params=STORES, name="db_url")
def db_url_both(request, tmp_path) -> str:
    """The database of this test: a fresh SQLite file, or a fresh database of the session's cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "councilcast.db")
    return request.getfixturevalue("pg_cluster").new_database()

"""Settings: command-line flags first, then ``COUNCILCAST_*`` environment variables, then defaults.

Every setting is a field of :class:`Config`; ``docs/settings.md`` lists them and
``tests/councilcast/test_docs.py`` fails when one is missing there.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from councilcast.stores.dialect import is_postgres, redact

__all__ = ["Config", "ENV_PREFIX"]

ENV_PREFIX = "COUNCILCAST_"


@dataclass
class Config:
    """Runtime settings of one councilcast server."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8080
    """TCP port to listen on (0 picks a free one)."""
    db: str = "councilcast.db"
    """The store of record: the path of a SQLite file (created if missing), or a PostgreSQL URL
    ``postgresql://user:password@host:5432/dbname`` (libpq's form; ``?host=/run/postgresql`` for a unix
    socket), whose tables are created at start. The password is never shown (``/api/health``, logs, errors)."""
    secretariat_token: str | None = None
    """Bearer token of the Central Council's secretariat. Generated and printed once when unset."""
    studio_token: str | None = None
    """Bearer token studios use for WHIP ingest. Generated and printed once when unset."""
    data_dir: str | None = None
    """Folder for recordings and other files; defaults to ``<db>.data`` beside a SQLite database, and to
    ``./councilcast.data`` with PostgreSQL."""
    public_url: str | None = None
    """Public base URL, used in links (e.g. QR codes). Defaults to http://host:port."""
    ice_servers: str = ""
    """Comma-separated STUN/TURN URLs (none by default: loopback and LAN). Browsers get all of
    them (WHIP/WHEP ``Link`` headers); the server's own peers use the STUN ones, their names
    resolved once at start-up in the background, never on a join (broadcast/ice.py)."""
    ice_interfaces: str = ""
    """Comma-separated interface names (``eth0``) and addresses of this machine that the server's
    peers offer viewers as host candidates (empty: the address ``host`` names if it is one of the
    machine's own, else every address). Fewer candidates, fewer sockets and checks per join
    (docs/broadcast.md, "Joining"). A name or address not on the machine stops the start."""
    demo: bool = False
    """Start the demo: bundled economy, synthetic camera on channel ``central``, simulated assemblies."""
    demo_fast: bool = False
    """``councilcast demo --fast``: the demo session's steps in about one minute instead of three."""
    recordings_max_age_days: float = 30.0
    """Recordings older than this many days are deleted (0: kept whatever their age)."""
    recordings_max_mb: float = 2000.0
    """Total size of the recordings folder in MB; past it the oldest finished recordings are deleted (0: no bound)."""
    log_level: str = "INFO"
    """Python logging level."""
    relay_origin: str | None = None
    """Relay mode: base URL of an origin councilcast whose channels this server pulls over WHEP and serves again."""
    relay_channels: str = ""
    """Relay mode: comma-separated channels to pull (empty: every channel the origin lists)."""
    relay_record: bool = False
    """Relay mode: record the pulled channels here too (``councilcast relay --record``); by default a relay forwards and does not record (the origin does)."""
    ws_fastpath: bool = True
    """``/ws`` writes events as one shared frame and answers clock sync at the socket read (``councilcast/wsfast.py``); off: aiohttp's public WebSocket API only, same behaviour, more CPU."""
    media_max_sessions: int = 500
    """WHIP and WHEP sessions the server holds at once, connected or not; past it, 503 with Retry-After."""
    media_max_sessions_per_address: int = 50
    """WHIP and WHEP sessions from one client address (a room's screens, phones behind one NAT)."""
    media_connect_timeout: float = 10.0
    """Seconds a WHIP or WHEP session has to connect after its answer before it is closed."""
    header_timeout: float = 15.0
    """Seconds a connection has to send a request's headers (from its opening or from the previous answer); also how long an idle keep-alive connection stays open."""
    body_timeout: float = 60.0
    """Seconds a request's body may take to arrive in full (408 and the connection closed after)."""
    key_file: str | None = None
    """The secret ballot's master key (32 bytes, created mode 0600 if missing). Keep it outside the database's directory and out of its backups: with it, a copy of the database no longer hides how a ballot voted. Default: ``$XDG_STATE_HOME/councilcast/keys/<hash of the database path>.key`` (``~/.local/state/...``)."""
    recall_quorum: float = 0.5
    """Turnout quorum of a recall round: members present (counts and ballots) at least this fraction of the constituency's registered members, besides a majority of votes cast for recall (docs/voting.md, "Recall"). Recorded in each recall round when it opens."""
    workers: int = 1
    """Server processes on this address (``councilcast serve --workers N``, SO_REUSEPORT): 1 is one process and no
    supervisor; more needs a PostgreSQL ``db`` (SQLite is refused), and one of them holds the media (docs/deploy.md)."""
    media_url: str | None = None
    """Where this server's media is when it is not here: ``unix:/path`` (set by ``serve --workers`` for every process
    but the media one) or ``http://host:port`` of a councilcast that holds it; ``/whip``, ``/whep``, the channels and
    the other broadcast routes are then handed to it. Unset: this process holds the media."""
    extra: dict = field(default_factory=dict)
    """Settings for tests and embedding; not read from the environment."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Config":
        """Build a config from ``COUNCILCAST_*`` variables, then apply non-None ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        if is_postgres(self.db):  # never a folder named after the URL (and its password)
            return Path("councilcast.data")
        return Path(str(self.db) + ".data")

    @property
    def runs_demo(self) -> bool:
        """Whether this process runs the demo's camera, session and simulated assemblies: with
        ``demo``, where the media is (no ``media_url``). With ``serve --workers N`` that is the
        media worker only; every worker still says it serves the demo (``demo``: the home
        page's notice, ``/api/health``)."""
        return self.demo and not self.media_url

    @property
    def db_display(self) -> str:
        """The database fit to show: the file, or the URL without its password."""
        return redact(self.db)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def _coerce(type_name, raw: str, name: str):
    t = str(type_name)
    if t.startswith("int"):
        try:
            return int(raw)
        except ValueError:
            raise SystemExit(f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from None
    if t.startswith("float"):
        try:
            return float(raw)
        except ValueError:
            raise SystemExit(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    if t.startswith("bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw

"""The secret ballot's master key: a file outside the database directory (docs/voting.md).

The key never enters the database, its WAL or its backups; a copy of those alone cannot
open a sealed ballot nor search the ballot codes. Losing the key during a round loses the
members' ballots of that round (they cannot be opened at the close): back it up apart
from the database, as the secretariat keeps a ballot box's key apart from the box.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from voting.secrecy import KEY_BYTES

__all__ = ["key_path", "load_or_create", "inside"]

log = logging.getLogger(__name__)


def key_path(db: str, configured: str | None) -> Path:
    """The configured key file, else one per database under ``$XDG_STATE_HOME/councilcast/keys``."""
    if configured:
        return Path(configured).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(Path(db).resolve()).encode()).hexdigest()[:16]
    return state / "councilcast" / "keys" / f"{digest}.key"


def inside(path: Path, db: str) -> bool:
    """Whether ``path`` lies in the database's directory (where a copy of the files would take it too)."""
    return Path(db).resolve().parent in path.resolve().parents


def load_or_create(path: Path) -> bytes:
    """The key in ``path``; a new random one (mode 0600, its folder 0700) when the file is missing."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise SystemExit(f"{path}: a ballot key is {KEY_BYTES} bytes, this file has {len(key)}")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    log.warning("created the secret ballot's key %s: back it up apart from the database", path)
    return key

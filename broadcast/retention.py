"""Which recordings go: the retention rule that bounds the disk the recordings use.

Two bounds, each off at 0: an age (a recording whose end is older than ``max_age_s``
goes) and a total size (while the recordings, the one being written included, hold more
than ``max_bytes``, the oldest finished ones go). The one being written is never a
candidate: it is not finished. The caller deletes; this module only decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Retention", "oldest_first"]


@dataclass(frozen=True)
class Retention:
    max_age_s: float = 0.0
    """A finished recording is kept this long after its end (0: whatever its age)."""
    max_bytes: int = 0
    """The recordings' total size (0: no bound)."""

    @property
    def off(self) -> bool:
        return not self.max_age_s and not self.max_bytes

    def reason(self, rec: dict, now: float, total: int) -> str | None:
        """Why the finished recording ``rec`` ({"ended_at", "bytes"}) goes, when the recordings
        hold ``total`` bytes: ``"age"``, ``"size"``, or None (it stays)."""
        if self.max_age_s and rec["ended_at"] < now - self.max_age_s:
            return "age"
        if self.max_bytes and total > self.max_bytes:
            return "size"
        return None


def oldest_first(recs: Iterable[dict]) -> list[dict]:
    """Finished recordings in the order they are considered: the oldest (first started) first."""
    return sorted(recs, key=lambda r: (r["started_at"], r["ended_at"], r["id"]))

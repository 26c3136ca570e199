"""Chapters of a recording: titled spans of its time, served as a WebVTT ``chapters`` track.

The broadcast area knows channels and times, not sessions: whoever knows what happened on a
channel (the application, from the sessions' items and speakers' turns) hands over spans
in Unix time; :func:`relative` puts them on the recording's clock (00:00:00.000 is the
recording's first frame) and :func:`vtt` writes the track a ``<track kind="chapters">``
loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from broadcast.captions import vtt_time

__all__ = ["Chapter", "relative", "vtt", "clock"]


@dataclass(frozen=True)
class Chapter:
    start: float
    """Seconds from the recording's first frame."""
    end: float
    title: str
    kind: str = "chapter"


def _title(text: str) -> str:
    """One line of chapter title text: no line breaks, no ``-->`` (which would end the cue's timing)."""
    return " ".join(str(text).split()).replace("-->", "->")


def relative(spans: Iterable[dict], origin: float, until: float) -> list[Chapter]:
    """Spans ``{"start_ts", "end_ts", "title", "kind"?}`` (Unix time) as chapters of a recording
    that runs from ``origin`` to ``until``: clipped to it, in order of start (a longer span
    first, so an item comes before the turns inside it); spans outside it, or shorter than
    a millisecond once clipped, are left out."""
    out = []
    for s in spans:
        start, end = max(s["start_ts"], origin), min(s["end_ts"], until)
        if end - start < 0.001:
            continue
        out.append(Chapter(start - origin, end - origin, _title(s["title"]), s.get("kind", "chapter")))
    out.sort(key=lambda c: (c.start, -c.end))
    return out


def vtt(chapters: Iterable[Chapter]) -> str:
    """A WebVTT file with one cue per chapter, numbered from 1."""
    lines = ["WEBVTT", ""]
    for n, c in enumerate(chapters, start=1):
        lines += [str(n), f"{vtt_time(c.start)} --> {vtt_time(c.end)}", _title(c.title), ""]
    return "\n".join(lines)


def clock(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``, as a player shows a position."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

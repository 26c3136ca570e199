"""Live captions: cues in wall-clock time, served as WebVTT relative to any origin.

A caption source (a stenographer's client, a speech-to-text service) posts cues as they
come; the viewer page shows the recent ones in a text track of the live video, and
:meth:`Captions.vtt` renders them as a WebVTT file whose times are relative to a
recording's start, so a replay shows the same captions at the same moments.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from broadcast.errors import BroadcastError

__all__ = ["Cue", "Captions", "vtt_time"]

MAX_CUES = 2000
MAX_TEXT = 500


@dataclass(frozen=True)
class Cue:
    seq: int
    start: float
    """Unix time the words were spoken."""
    end: float
    text: str


def vtt_time(seconds: float) -> str:
    """WebVTT timestamp ``HH:MM:SS.mmm`` (negative times clamp to zero)."""
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


class Captions:
    def __init__(self):
        self.cues: deque[Cue] = deque(maxlen=MAX_CUES)
        self._seq = 0

    def add(self, text: str, start: float | None = None, duration: float = 3.0) -> Cue:
        text = " ".join(text.split())
        if not text:
            raise BroadcastError("bad_caption", "text", "a caption needs some text")
        if len(text) > MAX_TEXT:
            raise BroadcastError("bad_caption", "text", f"a caption holds at most {MAX_TEXT} characters")
        if not 0 < duration <= 30:
            raise BroadcastError("bad_caption", "duration", "duration must be in (0, 30] seconds")
        start = time.time() if start is None else start
        self._seq += 1
        cue = Cue(self._seq, start, start + duration, text)
        self.cues.append(cue)
        return cue

    def since(self, seq: int) -> list[Cue]:
        return [c for c in self.cues if c.seq > seq]

    def vtt(self, origin: float, until: float | None = None) -> str:
        """The cues from ``origin`` (Unix time = 00:00:00.000) to ``until`` as WebVTT."""
        lines = ["WEBVTT", ""]
        for c in self.cues:
            if c.end < origin or (until is not None and c.start > until):
                continue
            text = c.text.replace("-->", "->")
            lines += [str(c.seq), f"{vtt_time(c.start - origin)} --> {vtt_time(c.end - origin)}", text, ""]
        return "\n".join(lines)

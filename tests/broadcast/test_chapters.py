"""Chapters on a recording's clock and the retention rule: pure functions, no server."""

from broadcast.chapters import Chapter, clock, relative, vtt
from broadcast.retention import Retention, oldest_first


def test_spans_are_clipped_to_the_recording_and_put_on_its_clock():
    spans = [
        {"start_ts": 990.0, "end_ts": 1010.0, "title": "Item 1: Report", "kind": "item"},       # began before
        {"start_ts": 1012.5, "end_ts": 1200.0, "title": "Item 2: Debate", "kind": "item"},      # runs past the end
        {"start_ts": 1020.25, "end_ts": 1030.0, "title": "Depot 4 GA has the floor", "kind": "speaker"},
        {"start_ts": 1012.5, "end_ts": 1015.0, "title": "Inner turn", "kind": "speaker"},        # same start
        {"start_ts": 1100.0, "end_ts": 1110.0, "title": "After", "kind": "item"},                # after the end
        {"start_ts": 900.0, "end_ts": 1000.0, "title": "Before", "kind": "item"},                # ends at the start
    ]
    got = relative(spans, origin=1000.0, until=1060.0)
    assert got == [Chapter(0.0, 10.0, "Item 1: Report", "item"),
                   Chapter(12.5, 60.0, "Item 2: Debate", "item"),  # the longer of the two at 12.5 first
                   Chapter(12.5, 15.0, "Inner turn", "speaker"),
                   Chapter(20.25, 30.0, "Depot 4 GA has the floor", "speaker")]


def test_vtt_is_a_chapters_track_with_one_line_titles():
    text = vtt([Chapter(0.0, 61.0005, "Item 1:\nA --> B"), Chapter(3725.5, 3726.0, "x")])
    assert text.split("\n") == ["WEBVTT", "", "1", "00:00:00.000 --> 00:01:01.000", "Item 1: A -> B", "",
                                "2", "01:02:05.500 --> 01:02:06.000", "x", ""]
    assert vtt([]) == "WEBVTT\n"


def test_clock():
    assert [clock(s) for s in (0, 5.9, 65, 3600, 3725.5)] == ["0:00", "0:05", "1:05", "1:00:00", "1:02:05"]


def _rec(rid, started, ended, size):
    return {"id": rid, "started_at": started, "ended_at": ended, "bytes": size}


def test_retention_by_age_and_by_size():
    day = 86400.0
    now = 100 * day
    rule = Retention(max_age_s=30 * day, max_bytes=0)
    assert rule.reason(_rec("a", now - 31 * day, now - 30.5 * day, 1), now, 0) == "age"
    assert rule.reason(_rec("b", now - 30 * day, now - 29.9 * day, 1), now, 0) is None
    size = Retention(max_age_s=0, max_bytes=1000)
    assert size.reason(_rec("c", 0, 1, 10), now, 1001) == "size"
    assert size.reason(_rec("c", 0, 1, 10), now, 1000) is None
    assert Retention().off and not size.off
    assert [r["id"] for r in oldest_first([_rec("y", 5, 9, 1), _rec("x", 1, 20, 1), _rec("w", 5, 9, 1)])] == \
        ["x", "w", "y"]

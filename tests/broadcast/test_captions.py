"""Caption cues and their WebVTT rendering."""

import pytest

from broadcast.captions import Captions, vtt_time


def test_vtt_time():
    assert vtt_time(0) == "00:00:00.000"
    assert vtt_time(61.5) == "00:01:01.500"
    assert vtt_time(3600 * 2 + 59.999) == "02:00:59.999"
    assert vtt_time(-3) == "00:00:00.000"


def test_vtt_relative_to_origin():
    caps = Captions()
    caps.add("The session is open.", start=1000.0, duration=2.5)
    caps.add("Item one --> the budget", start=1010.0, duration=3)
    caps.add("Outside the recording", start=2000.0)
    vtt = caps.vtt(origin=990.0, until=1500.0)
    assert vtt.splitlines()[:9] == [
        "WEBVTT", "",
        "1", "00:00:10.000 --> 00:00:12.500", "The session is open.", "",
        "2", "00:00:20.000 --> 00:00:23.000", "Item one -> the budget",
    ]
    assert "Outside" not in vtt


def test_bad_cues():
    caps = Captions()
    with pytest.raises(ValueError):
        caps.add("   ")
    with pytest.raises(ValueError):
        caps.add("x" * 501)
    with pytest.raises(ValueError):
        caps.add("ok", duration=0)
    assert [c.text for c in caps.since(0)] == []

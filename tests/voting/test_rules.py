"""Checks of a clerk's count and of a round's definition."""

import pytest

from voting.rules import VotingError, check_round_spec, check_tally, parse_time, iso
from councilcast.errors import status_for

OPTS = ["A", "B"]


def test_valid_count_fills_missing_options_with_zero():
    t = check_tally({"present": 10, "counts": {"A": 6}, "abstain": 1}, OPTS, 12)
    assert t.counts == {"A": 6, "B": 0} and t.present == 10 and t.abstain == 1


@pytest.mark.parametrize("body, field", [
    ({"present": 10, "counts": {"C": 1}, "abstain": 0}, "counts.C"),          # unknown option
    ({"present": 10, "counts": {"A": -1}, "abstain": 0}, "counts.A"),         # negative
    ({"present": 10, "counts": {"A": 1.5}, "abstain": 0}, "counts.A"),        # not an integer
    ({"present": 10, "counts": {"A": True}, "abstain": 0}, "counts.A"),       # a bool is not a count
    ({"present": 10, "counts": {"A": 6, "B": 4}, "abstain": 1}, "counts"),    # 6 + 4 + 1 > 10
    ({"present": 13, "counts": {"A": 1}, "abstain": 0}, "present"),           # more than 12 members
    ({"present": -1, "counts": {}, "abstain": 0}, "present"),
    ({"counts": {"A": 1}}, "present"),
    ({"present": 3, "counts": [1, 2]}, "counts"),
    ({"present": 3, "counts": {}, "abstain": "1"}, "abstain"),
    ({"present": 3, "counts": {}, "extra": 1}, "extra"),
])
def test_invalid_counts_name_the_field(body, field):
    with pytest.raises(VotingError) as e:
        check_tally(body, OPTS, 12)
    assert e.value.field == field and status_for(e.value) == 400


def test_boundary_counts_plus_abstain_equal_present_equal_members():
    t = check_tally({"present": 12, "counts": {"A": 7, "B": 4}, "abstain": 1}, OPTS, 12)
    assert sum(t.counts.values()) + t.abstain == 12


def test_round_spec():
    now = 1_000_000.0
    s = check_round_spec({"title": " Plan ", "options": ["A", "B"], "duration_s": 30}, now)
    assert (s["title"], s["opens_at"], s["closes_at"]) == ("Plan", now, now + 30)
    s = check_round_spec({"title": "x", "options": ["A", "B"], "duration_s": 30,
                          "opens_at": iso(now + 100)}, now)
    assert s["opens_at"] == pytest.approx(now + 100, abs=0.001)
    for bad, field in [({"options": ["A", "A"]}, "options[1]"), ({"options": ["A"]}, "options"),
                       ({"options": ["A", "abstain"]}, "options[1]"), ({"duration_s": 0}, "duration_s"),
                       ({"duration_s": "5"}, "duration_s"), ({"opens_at": iso(now - 60)}, "opens_at"),
                       ({"opens_at": "tomorrow"}, "opens_at"), ({"title": ""}, "title")]:
        body = {"title": "x", "options": ["A", "B"], "duration_s": 30, **bad}
        with pytest.raises(VotingError) as e:
            check_round_spec(body, now)
        assert e.value.field == field


def test_parse_time_zones():
    assert parse_time("1970-01-01T01:00:00+01:00", "t") == 0
    assert parse_time("1970-01-01T00:00:10Z", "t") == 10
    assert parse_time("1970-01-01T00:00:10", "t") == 10  # naive means UTC


def test_a_runoff_opens_after_a_pause_as_long_as_the_round_between_10_and_60_s():
    from voting.consequences import runoff_spec
    result = {"decision": "runoff", "runoff": ["B", "A"]}
    for duration, pause in ((40.0, 40.0), (5.0, 10.0), (180.0, 60.0), (60.0, 60.0)):
        spec = runoff_spec({"title": "Q", "duration_s": duration, "scope": ["ga-1"]}, result, 1000.0)
        assert spec["opens_at"] == 1000.0 + pause and spec["closes_at"] == 1000.0 + pause + duration
        assert spec["options"] == ["B", "A"] and spec["scope"] == ["ga-1"] and spec["title"] == "Runoff: Q"
    assert runoff_spec({"title": "Q", "duration_s": 40.0, "scope": None}, {"decision": "adopted"}, 0.0) is None

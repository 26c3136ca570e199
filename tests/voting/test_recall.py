"""The recall's rules (issue 12): the turnout quorum, the outcome and its reason, the request's
checks, and what an election round's result does. Pure; figures worked out by hand."""

import pytest

from voting.consequences import election_outcome, election_round_spec, recall_outcome, successor_election
from voting.result import quorum_check
from voting.rules import VotingError, check_candidate, check_quorum, check_recall_request


def test_the_quorum_is_the_smallest_whole_number_of_members_at_or_above_the_fraction():
    assert quorum_check(149, 300, 0.5)["reached"] is False
    assert quorum_check(150, 300, 0.5)["reached"] is True
    assert quorum_check(50, 101, 0.5)["needed"] == 51  # 50.5 rounds up: half of 101 is not 50
    assert quorum_check(100, 300, 1 / 3)["needed"] == 100  # 1/3 is not exact in binary: still 100
    assert quorum_check(1, 1, 1.0) == {"fraction": 1.0, "registered": 1, "needed": 1, "present": 1,
                                       "turnout": 1.0, "reached": True}
    assert quorum_check(0, 3, 0.01)["needed"] == 1  # some member must be present


def _result(recall, keep, present, registered):
    cast = recall + keep
    return {"winner": "recall" if recall > cast / 2 else ("keep" if keep > cast / 2 else None),
            "totals": {"recall": recall, "keep": keep}, "votes_cast": cast, "majority": cast // 2 + 1 if cast else None,
            "present": present, "registered": registered}


@pytest.mark.parametrize("recall,keep,present,passed,majority,reached", [
    (80, 40, 123, False, True, False),   # a majority, 41% turnout
    (80, 70, 150, True, True, True),     # the quorum just reached
    (60, 60, 300, False, False, True),   # a tie keeps the delegate
    (10, 140, 150, False, False, True),  # a majority to keep
    (0, 0, 200, False, False, True),     # everyone abstained
])
def test_a_recall_passes_with_a_majority_and_the_quorum(recall, keep, present, passed, majority, reached):
    out = recall_outcome({"kind": "recall", "subject": "d-1", "quorum": 0.5}, _result(recall, keep, present, 300))
    assert (out["passed"], out["majority"], out["quorum"]["reached"]) == (passed, majority, reached)
    assert out["delegate"] == "d-1" and out["reason"].startswith("passed." if passed else "not passed")


def test_the_reason_gives_the_figures_and_cuts_the_turnout_rather_than_round_it_up():
    out = recall_outcome({"kind": "recall", "subject": "d", "quorum": 0.5}, _result(100, 40, 149, 300))
    assert "turnout 149 of 300 registered members (49.6%), quorum 50% (150): not reached" in out["reason"]
    out = recall_outcome({"kind": "recall", "subject": "d", "quorum": 0.5}, _result(0, 0, 200, 300))
    assert "no votes cast" in out["reason"] and "no majority" in out["reason"]


def test_a_recall_opened_before_quorums_is_decided_by_the_majority_alone():
    out = recall_outcome({"kind": "recall", "subject": "d", "quorum": None}, _result(6, 4, 10, 300))
    assert out["passed"] is True and out["quorum"] is None
    assert recall_outcome({"kind": "decision", "subject": None}, _result(6, 4, 10, 300)) is None


def test_the_recall_request_is_checked_field_by_field():
    now = 1_000_000.0
    assert check_recall_request({}, now) == {"duration_s": None, "nomination_s": None, "election_duration_s": None,
                                             "now": False, "opens_at": None}
    ok = check_recall_request({"duration_s": 60, "now": True, "nomination_s": 5, "election_duration_s": 30}, now)
    assert ok["now"] is True and ok["nomination_s"] == 5.0
    for body, field in [({"duration_s": -1}, "duration_s"), ({"now": 1}, "now"), ({"x": 1}, "x"),
                        ({"now": True, "opens_at": "2100-01-01T00:00:00Z"}, "now"),
                        ({"opens_at": "1970-01-01T00:00:00Z"}, "opens_at"),
                        ({"nomination_s": float("nan")}, "nomination_s")]:
        with pytest.raises(VotingError) as exc:
            check_recall_request(body, now)
        assert exc.value.field == field, body
    with pytest.raises(VotingError):
        check_recall_request([], now)


def test_quorum_setting_and_candidates():
    assert check_quorum(0.5) == 0.5 and check_quorum(1) == 1.0
    for bad in (0, -0.1, 1.01, True, "0.5", float("inf")):
        with pytest.raises(VotingError):
            check_quorum(bad)
    assert check_candidate({"name": "  A. Pannekoek "}) == "A. Pannekoek"
    for body in ({"name": "abstain"}, {"name": ""}, {}, {"name": "x", "y": 1}):
        with pytest.raises(VotingError):
            check_candidate(body)


def test_the_successor_election_and_what_its_rounds_decide():
    r = {"id": "r-1", "scope": ["ga-1", "ga-2"]}
    assert successor_election(r, {"delegate": "d", "passed": False}, 0.0, 60.0, 30.0) is None
    e = successor_election(r, {"delegate": "d", "passed": True}, 100.0, 60.0, 30.0)
    assert e == {"recalled": "d", "recall_round": "r-1", "scope": ["ga-1", "ga-2"], "nomination_s": 60.0,
                 "duration_s": 30.0, "nominations_close": 160.0}
    assert election_round_spec(e, ["A"], "M", 160.0) is None  # one candidate: no choice, another window
    spec = election_round_spec(e, ["A", "B", "C"], "M", 160.0)
    assert spec["options"] == ["A", "B", "C"] and spec["closes_at"] == 190.0 and spec["scope"] == ["ga-1", "ga-2"]
    assert election_outcome({"decision": "adopted", "winner": "B"}, e, 200.0) == {"state": "decided", "winner": "B"}
    assert election_outcome({"decision": "runoff", "winner": None}, e, 200.0) == {"state": "voting"}
    again = election_outcome({"decision": "no_votes", "winner": None, "tied": []}, e, 200.0)
    assert again["state"] == "nominating" and again["nominations_close"] == 260.0 and "no votes" in again["note"]

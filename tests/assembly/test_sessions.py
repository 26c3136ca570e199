import pytest

from assembly.sessions import SessionError, check_item, check_order, check_session, outcome, transition


def test_session_specs_and_default_channels():
    assert check_session({"body": "central-assembly", "title": " Plenary "}, 10.0) == {
        "body": "central-assembly", "title": "Plenary", "starts_at": 10.0, "channel": "central"}
    assert check_session({"body": "central-council", "title": "C"}, 0)["channel"] == "council"
    assert check_session({"body": "committee:housing", "title": "H", "channel": "housing"}, 0)["channel"] == "housing"
    for bad, field in [({"body": "parliament", "title": "x"}, "body"), ({"body": "committee:", "title": "x"}, "body"),
                       ({"body": "central-assembly", "title": ""}, "title"),
                       ({"body": "central-assembly", "title": "x", "starts_at": "soon"}, "starts_at"),
                       ({"body": "central-assembly", "title": "x", "chair": 1}, "chair")]:
        with pytest.raises(SessionError) as e:
            check_session(bad, 0)
        assert e.value.field == field


def test_state_machine():
    assert transition("scheduled", "open") == "open"
    assert transition("open", "adjourn") == "adjourned"
    assert transition("adjourned", "open") == "open"
    assert transition("adjourned", "close") == "closed"
    for state, action in [("closed", "open"), ("scheduled", "adjourn"), ("closed", "close")]:
        with pytest.raises(SessionError) as e:
            transition(state, action)
        assert e.value.kind == "conflict"


def test_items_and_order():
    assert check_item({"title": "Plan", "kind": "decision", "variant_set": 3})["variant_set"] == "3"
    assert check_item({"title": "Report", "kind": "report"})["duration_s"] == 60.0
    for bad, field in [({"title": "D", "kind": "decision"}, "options"), ({"title": "R", "kind": "vote"}, "kind"),
                       ({"title": "R", "kind": "report", "options": ["a", "b"]}, "kind"),
                       ({"title": "D", "kind": "decision", "options": ["a", "a"]}, "options"),
                       ({"title": "D", "kind": "decision", "options": ["a", "b"], "duration_s": float("nan")},
                        "duration_s")]:
        with pytest.raises(SessionError) as e:
            check_item(bad)
        assert e.value.field == field
    assert check_order(["a", "b", "c"], ["c", "a", "b"]) == ["c", "a", "b"]
    for bad in (["a", "b"], ["a", "a", "b"], "abc", ["a", "b", "c", "d"]):
        with pytest.raises(SessionError):
            check_order(["a", "b", "c"], bad)


def test_outcomes():
    assert outcome({"decision": "adopted", "winner": "Variant B"}) == {"text": "Variant B adopted",
                                                                      "winner": "Variant B"}
    assert outcome({"decision": "runoff", "runoff": ["A", "B"]}) is None
    assert outcome({"decision": "tie", "tied": ["A", "B"], "winner": None})["winner"] is None
    assert outcome({"decision": "no_votes"})["text"].startswith("No vote cast")

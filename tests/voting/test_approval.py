"""The Council's approval voting and its draw, by hand and by brute force."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voting.approval import (check_ballot, check_election_spec, check_rotation, count, draw_key, elect, seed_of,
                             today_utc)
from voting.rules import VotingError

C5 = ["a", "b", "c", "d", "e"]


def hand_seed(eid, ballots):
    # the documented recipe, written out again without the module's helpers
    text = "{\"ballots\":{" + ",".join(
        f"\"{d}\":[" + ",".join(f"\"{c}\"" for c in sorted(ballots[d])) + "]" for d in sorted(ballots)
    ) + "},\"election\":\"" + eid + "\"}"
    return hashlib.sha256(text.encode()).hexdigest()


def test_three_of_five_with_no_tie_at_the_last_seat():
    ballots = {"d1": ["a", "b", "c"], "d2": ["a", "b", "d"], "d3": ["a", "c"], "d4": ["b", "e"]}
    r = elect("ce-1", C5, ballots, 3)
    # by hand: a 3, b 3, c 2, d 1, e 1
    assert r["approvals"] == {"a": 3, "b": 3, "c": 2, "d": 1, "e": 1}
    assert [e["candidate"] for e in r["elected"]][2] == "c"
    assert {e["candidate"] for e in r["elected"]} == {"a", "b", "c"}
    assert [e["seat"] for e in r["elected"]] == [1, 2, 3]
    assert r["draw"] is None and r["vacant"] == 0 and r["ballots"] == 4 and r["abstentions"] == 0
    # a and b tie inside the Council: their seats follow the draw's keys, reproducibly
    seed = hand_seed("ce-1", ballots)
    assert r["seed"] == seed
    first_two = sorted(["a", "b"], key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    assert [e["candidate"] for e in r["elected"][:2]] == first_two


def test_a_tie_at_the_third_seat_is_decided_by_the_published_draw():
    ballots = {"d1": ["a", "b", "c"], "d2": ["a", "b", "d"], "d3": ["a", "c", "e"], "d4": ["b", "d"]}
    r = elect("ce-2", C5, ballots, 3)
    # by hand: a 3, b 3, c 2, d 2, e 1 -> a and b elected, c and d tie for the third seat
    assert r["approvals"] == {"a": 3, "b": 3, "c": 2, "d": 2, "e": 1}
    seed = hand_seed("ce-2", ballots)
    assert r["seed"] == seed
    keys = {c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest() for c in ("c", "d")}
    winner = min(keys, key=keys.get)
    d = r["draw"]
    assert d["approvals"] == 2 and d["tied"] == ["c", "d"] and d["seats"] == 1 and d["won"] == [winner]
    assert [o["candidate"] for o in d["order"]] == sorted(keys, key=keys.get)
    assert [o["key"] for o in d["order"]] == sorted(keys.values())
    assert {e["candidate"] for e in r["elected"]} == {"a", "b", winner}
    assert r["elected"][2] == {"candidate": winner, "seat": 3, "approvals": 2}


def test_a_tie_across_two_seats():
    ballots = {"d1": ["a", "b"], "d2": ["a", "c"], "d3": ["a", "d"], "d4": ["e"]}
    # a 3; b, c, d, e 1 each: two seats left for four tied
    r = elect("ce-3", C5, ballots, 3)
    d = r["draw"]
    assert d["tied"] == ["b", "c", "d", "e"] and d["seats"] == 2 and len(d["won"]) == 2
    seed = hand_seed("ce-3", ballots)
    order = sorted("bcde", key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    assert d["won"] == order[:2]
    assert [e["candidate"] for e in r["elected"]] == ["a", *order[:2]]


def test_the_seed_changes_with_any_ballot_and_with_the_election():
    b = {"d1": ["a", "b"], "d2": ["c"]}
    s = seed_of("ce-1", b)
    assert s != seed_of("ce-2", b)
    assert s != seed_of("ce-1", {"d1": ["a", "b"], "d2": ["d"]})
    assert s == seed_of("ce-1", {"d2": ["c"], "d1": ["b", "a"]})  # order of keys and approvals does not matter
    assert draw_key(s, "a") == hashlib.sha256((s + ":a").encode()).hexdigest()


def test_fewer_candidates_than_seats_leaves_seats_vacant():
    r = elect("ce-4", ["a", "b"], {"d1": ["a", "b"], "d2": ["a"]}, 3)
    assert [e["candidate"] for e in r["elected"]] == ["a", "b"] and r["vacant"] == 1 and r["draw"] is None


def test_a_candidate_no_one_approved_is_not_elected():
    r = elect("ce-5", ["a", "b", "c"], {"d1": ["a"], "d2": ["a"]}, 2)
    assert [e["candidate"] for e in r["elected"]] == ["a"] and r["vacant"] == 1 and r["draw"] is None


def test_abstention_is_an_empty_approval():
    r = elect("ce-6", C5, {"d1": [], "d2": ["a"], "d3": []}, 3)
    assert r["ballots"] == 3 and r["abstentions"] == 2 and r["approvals"]["a"] == 1
    assert [e["candidate"] for e in r["elected"]] == ["a"] and r["vacant"] == 2
    r = elect("ce-7", C5, {}, 3)
    assert r["elected"] == [] and r["vacant"] == 3 and r["ballots"] == 0


def test_a_withdrawn_candidate_keeps_their_approvals_and_takes_no_seat():
    r = elect("ce-8", C5, {"d1": ["a", "b"], "d2": ["a", "c"]}, 2, eligible=["b", "c", "d", "e"])
    assert r["approvals"]["a"] == 2 and r["withdrawn"] == ["a"]
    assert {e["candidate"] for e in r["elected"]} == {"b", "c"} and r["draw"] is None


def test_ballots_are_checked():
    assert check_ballot(["c", "a"], C5, 3) == ["a", "c"]
    assert check_ballot([], C5, 3) == []
    for approve, field in ((["a", "b", "c", "d"], "approve"), (["a", "z"], "approve[1]"),
                           (["a", "a"], "approve[1]"), ("a", "approve"), ([1], "approve[0]")):
        with pytest.raises(VotingError) as e:
            check_ballot(approve, C5, 3)
        assert e.value.field == field, approve


@pytest.mark.parametrize("body, field", [
    ({"seats": 3, "candidates": ["a"]}, "title"),
    ({"title": "C", "candidates": ["a"]}, "seats"),
    ({"title": "C", "seats": 0, "candidates": ["a"]}, "seats"),
    ({"title": "C", "seats": "3", "candidates": ["a"]}, "seats"),
    ({"title": "C", "seats": 101, "candidates": ["a"]}, "seats"),
    ({"title": "C", "seats": 3, "candidates": []}, "candidates"),
    ({"title": "C", "seats": 3, "candidates": ["a", "a"]}, "candidates[1]"),
    ({"title": "C", "seats": 3, "candidates": ["a", 7]}, "candidates[1]"),
    ({"title": "C", "seats": 3, "candidates": ["a"], "term_ends": "soon"}, "term_ends"),
    ({"title": "C", "seats": 3, "candidates": ["a"], "term_ends": "2020-01-01"}, "term_ends"),
    ({"title": "C", "seats": 3, "candidates": ["a"], "item": 5}, "item"),
    ({"title": "C", "seats": 3, "candidates": ["a"], "extra": 1}, "extra"),
])
def test_election_specs_name_the_field(body, field):
    with pytest.raises(VotingError) as e:
        check_election_spec(body, today="2026-01-01")
    assert e.value.field == field


def test_an_election_spec():
    spec = check_election_spec({"title": " Council ", "seats": 3, "candidates": ["a", "b"], "term_ends": "2027-06-30"},
                               today="2026-01-01")
    assert spec == {"title": "Council", "seats": 3, "candidates": ["a", "b"], "term_ends": "2027-06-30", "item": None}
    assert today_utc(0) == "1970-01-01"


def test_rotation():
    check_rotation(["a", "b"], [{"a"}])  # one Council only
    check_rotation(["a", "b"], [{"a"}, {"b"}, {"a"}])  # a sat out the second
    with pytest.raises(VotingError) as e:
        check_rotation(["b", "a"], [{"a", "c"}, {"a"}])
    assert e.value.field == "candidates[1]" and e.value.kind == "conflict"


# -- brute force: the elected are a best set, and only a draw chooses among equals ------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.data())
def test_the_elected_are_the_most_approved_by_brute_force(n_cand, seats, data):
    cands = [f"c{i}" for i in range(n_cand)]
    n_dels = data.draw(st.integers(0, 6))
    ballots = {f"d{j}": data.draw(st.lists(st.sampled_from(cands), unique=True, max_size=min(seats, n_cand)))
               for j in range(n_dels)}
    r = elect("ce-x", cands, ballots, seats)
    votes = {c: sum(c in b for b in ballots.values()) for c in cands}
    assert r["approvals"] == votes == count(ballots, cands)
    elected = [e["candidate"] for e in r["elected"]]
    positive = [c for c in cands if votes[c] > 0]
    k = min(seats, len(positive))
    assert len(elected) == k and r["vacant"] == seats - k
    best = max((sum(votes[c] for c in s) for s in itertools.combinations(positive, k)), default=0)
    assert sum(votes[c] for c in elected) == best
    losers = [c for c in positive if c not in elected]
    assert all(votes[w] >= votes[x] for w in elected for x in losers)
    assert [votes[c] for c in elected] == sorted((votes[c] for c in elected), reverse=True)
    # a draw is reported exactly when an elected and a non-elected candidate have equal approvals
    tie = any(votes[w] == votes[x] for w in elected for x in losers)
    assert (r["draw"] is not None) == tie
    if tie:
        n = r["draw"]["approvals"]
        tied = sorted(c for c in positive if votes[c] == n)
        assert r["draw"]["tied"] == tied
        keys = sorted(tied, key=lambda c: hashlib.sha256(f"{r['seed']}:{c}".encode()).hexdigest())
        assert r["draw"]["won"] == keys[:r["draw"]["seats"]] == [c for c in elected if votes[c] == n]
    assert r["seed"] == hashlib.sha256(json.dumps({"ballots": {d: sorted(b) for d, b in ballots.items()},
                                                   "election": "ce-x"}, sort_keys=True,
                                                  separators=(",", ":")).encode()).hexdigest()

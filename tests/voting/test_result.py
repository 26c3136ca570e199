"""The rule: simple majority of votes cast; runoff between the first two; ties are ties."""

from hypothesis import given, strategies as st

from voting.result import compute_result


def ga(i, counts, abstain=0, present=None):
    return {"id": f"ga{i}", "counts": counts, "abstain": abstain,
            "present": present if present is not None else sum(counts.values()) + abstain}


def test_totals_breakdown_and_carried():
    tallies = [ga(1, {"A": 60, "B": 40}, 5), ga(2, {"A": 10, "B": 30}, 0, 45), ga(3, {"A": 20, "B": 20}, 2)]
    r = compute_result(["A", "B"], tallies, 300)
    # 60+10+20 = 90, 40+30+20 = 90 -> a tie of two options
    assert r["totals"] == {"A": 90, "B": 90}
    assert r["votes_cast"] == 180 and r["abstain"] == 7 and r["present"] == 105 + 45 + 42
    assert r["turnout"] == round(192 / 300, 4)
    assert r["decision"] == "tie" and r["tied"] == ["A", "B"] and r["winner"] is None
    assert r["carried"] == {"A": 1, "B": 1} and r["assemblies_tied"] == 1
    assert [a["id"] for a in r["assemblies"]] == ["ga1", "ga2", "ga3"]


def test_majority_of_votes_cast_not_of_present():
    # A has 51 of 100 votes cast; 50 abstentions do not count against it
    r = compute_result(["A", "B"], [ga(1, {"A": 51, "B": 49}, 50)], 1000)
    assert r["decision"] == "adopted" and r["winner"] == "A" and r["majority"] == 51


def test_three_options_no_majority_gives_runoff_of_first_two():
    r = compute_result(["A", "B", "C"], [ga(1, {"A": 40, "B": 35, "C": 25})], 100)
    assert r["decision"] == "runoff" and r["runoff"] == ["A", "B"] and r["winner"] is None
    r = compute_result(["A", "B", "C"], [ga(1, {"A": 30, "B": 45, "C": 25})], 100)
    assert r["runoff"] == ["B", "A"]


def test_three_options_tie_for_second_place_is_reported_as_tie():
    r = compute_result(["A", "B", "C"], [ga(1, {"A": 40, "B": 30, "C": 30})], 100)
    assert r["decision"] == "tie" and r["tied"] == ["A", "B", "C"] and r["runoff"] is None


def test_three_options_tie_at_top_runs_off_the_two():
    r = compute_result(["A", "B", "C"], [ga(1, {"A": 40, "B": 40, "C": 20})], 100)
    assert r["decision"] == "runoff" and sorted(r["runoff"]) == ["A", "B"]


def test_no_votes():
    r = compute_result(["A", "B"], [ga(1, {"A": 0, "B": 0}, 3)], 10)
    assert r["decision"] == "no_votes" and r["votes_cast"] == 0 and r["majority"] is None
    r = compute_result(["A", "B"], [], 10)
    assert r["decision"] == "no_votes" and r["assemblies_reporting"] == 0


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500), st.integers(0, 50)),
                min_size=1, max_size=30))
def test_totals_are_the_sums_and_the_decision_follows_the_rule(rows):
    tallies = [ga(i, {"A": a, "B": b, "C": c}, ab) for i, (a, b, c, ab) in enumerate(rows)]
    r = compute_result(["A", "B", "C"], tallies, 10**6)
    for o, k in (("A", 0), ("B", 1), ("C", 2)):
        assert r["totals"][o] == sum(row[k] for row in rows)
    cast = sum(r["totals"].values())
    assert r["votes_cast"] == cast and r["abstain"] == sum(row[3] for row in rows)
    if r["decision"] == "adopted":
        assert 2 * r["totals"][r["winner"]] > cast
    else:
        assert all(2 * v <= cast for v in r["totals"].values())
    assert sum(r["carried"].values()) + r["assemblies_tied"] == sum(1 for row in rows if max(row[:3]) > 0)

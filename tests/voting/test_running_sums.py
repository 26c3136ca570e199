"""Running sums against the reference add-up: after any sequence of counts and recounts, the sums
kept count by count equal compute_result over the standing counts (brute force, random rounds)."""

import random

from voting.result import RunningSums, compute_result


def test_running_sums_equal_compute_result_after_random_counts_and_recounts():
    rng = random.Random(15)
    for trial in range(200):
        options = [f"o{i}" for i in range(rng.randint(2, 5))]
        sums, standing = RunningSums(options), {}
        for _ in range(rng.randint(1, 60)):
            aid = f"ga-{rng.randint(0, 12)}"
            # small values so that ties inside an assembly and all-zero counts are common
            new = {"counts": {o: rng.choice([0, 0, 1, 2, 2, 5]) for o in options},
                   "present": rng.randint(0, 40), "abstain": rng.randint(0, 3)}
            sums.replace(standing.get(aid), new)
            standing[aid] = new
            again = RunningSums(options, sums.as_dict())  # what the store writes and reads back
            assert again.as_dict() == sums.as_dict()
        ref = compute_result(options, [{"id": a, **t} for a, t in standing.items()], 1000)
        assert sums.totals == ref["totals"], trial
        assert sums.carried == ref["carried"], trial
        assert sums.tied == ref["assemblies_tied"], trial
        assert (sums.reporting, sums.abstain, sums.present) == (ref["assemblies_reporting"], ref["abstain"],
                                                               ref["present"]), trial


def test_a_recount_moves_an_assembly_between_carried_and_tied():
    s = RunningSums(["A", "B"])
    first = {"counts": {"A": 3, "B": 1}, "present": 5, "abstain": 1}
    s.replace(None, first)
    assert (s.carried, s.tied) == ({"A": 1, "B": 0}, 0)
    tie = {"counts": {"A": 2, "B": 2}, "present": 5, "abstain": 1}
    s.replace(first, tie)
    assert (s.carried, s.tied, s.totals, s.reporting) == ({"A": 0, "B": 0}, 1, {"A": 2, "B": 2}, 1)
    zero = {"counts": {"A": 0, "B": 0}, "present": 5, "abstain": 5}
    s.replace(tie, zero)  # no votes: the assembly carries nothing and is not tied
    assert (s.carried, s.tied, s.abstain, s.present) == ({"A": 0, "B": 0}, 0, 5, 5)

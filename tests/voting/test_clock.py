"""Offset estimation: the lowest-RTT samples win over queued ones."""

import random

from voting.clock import estimate_offset, offset_rtt


def exchange(true_offset, up, server, down, t0):
    """One exchange with given one-way delays: client clock = server clock - true_offset."""
    t1 = t0 + true_offset + up
    t2 = t1 + server
    t3 = t2 - true_offset + down
    return t0, t1, t2, t3


def test_symmetric_delay_gives_the_exact_offset():
    off, rtt = offset_rtt(*exchange(250.0, 5, 1, 5, 1000))
    assert off == 250.0 and rtt == 10


def test_queueing_on_some_samples_does_not_bias_the_estimate():
    rng = random.Random(7)
    samples = []
    for i in range(20):
        base = 0.2
        up = base + (rng.uniform(0, 80) if i % 3 else 0)   # two thirds queued up to 80 ms one way
        down = base + (rng.uniform(0, 80) if i % 4 == 1 else 0)
        samples.append(exchange(-1234.5, up, 0.05, down, 1000 + 100 * i))
    naive = sum(offset_rtt(*s)[0] for s in samples) / len(samples)
    est, rtt = estimate_offset(samples)
    assert abs(est - (-1234.5)) < 0.5 and rtt < 1
    assert abs(naive - (-1234.5)) > abs(est - (-1234.5))  # the mean of all samples is worse

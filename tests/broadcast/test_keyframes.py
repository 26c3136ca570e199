"""The keyframe gate: requests are served at most once per second, none is lost."""

from broadcast.program import _KeyframeGate


def test_gate_once_per_second():
    g = _KeyframeGate()
    assert not g.take(100.0)  # nothing asked
    g.request()
    g.request()
    assert g.take(100.0)
    assert not g.take(100.1)
    g.request()  # too soon: kept
    assert not g.take(100.5)
    assert not g.take(100.99)
    assert g.take(101.0)
    assert not g.take(101.5)
    assert (g.requested, g.served) == (3, 2)

"""The keyframe gate: requests are served at most once per 0.5 s, none is lost."""

from broadcast.program import KEYFRAME_MIN_INTERVAL, _KeyframeGate


def test_gate_once_per_half_second():
    assert KEYFRAME_MIN_INTERVAL == 0.5  # at most two forced keyframes a second (issue 14)
    g = _KeyframeGate()
    assert not g.take(100.0)  # nothing asked
    g.request()
    g.request()
    assert g.take(100.0)
    assert not g.take(100.1)
    g.request()  # too soon: kept
    assert not g.take(100.3)
    assert not g.take(100.49)
    assert g.take(100.5)
    assert not g.take(100.8)
    assert (g.requested, g.served) == (3, 2)

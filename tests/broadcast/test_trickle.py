import pytest

from broadcast.errors import BroadcastError
from broadcast.trickle import parse_sdpfrag

UDP = "a=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host"
TCP = "a=candidate:2 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active"


def test_candidates_follow_their_mid():
    frag = "\n".join(["a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef0123456789", "m=audio 9 RTP/AVP 0",
                      "a=mid:1", UDP, "a=mid:0", UDP.replace("50000", "50002")])
    got = parse_sdpfrag(frag, ["0", "1"])
    assert [(c.sdpMid, c.port, c.ip) for c in got] == [("1", 50000, "192.0.2.1"), ("0", 50002, "192.0.2.1")]


def test_no_or_unknown_mid_goes_to_the_first_section():
    assert [c.sdpMid for c in parse_sdpfrag(UDP, ["0", "1"])] == ["0"]
    assert [c.sdpMid for c in parse_sdpfrag("a=mid:9\n" + UDP, ["0", "1"])] == ["0"]


def test_tcp_candidates_are_dropped_silently():
    assert parse_sdpfrag(TCP + "\n" + UDP, ["0"])[0].protocol == "udp"
    assert len(parse_sdpfrag(TCP, ["0"])) == 0


@pytest.mark.parametrize("frag", ["a=candidate:1 1 udp notanumber 192.0.2.1 50000 typ host", "hello"])
def test_malformed_fragment_names_the_body(frag):
    with pytest.raises(BroadcastError) as e:
        parse_sdpfrag(frag, ["0"])
    assert e.value.code == "bad_offer" and e.value.field == "body" and e.value.kind == "invalid"

"""broadcast.libinternals: the only package of broadcast/ that touches library internals, its
self-check, its report, and the guard against creating attributes upstream renamed."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpsender import RTCRtpSender

from broadcast import libinternals

BROADCAST = Path(__file__).resolve().parents[2] / "broadcast"
ALLOWED = BROADCAST / "libinternals"  # the package: any module in it may
ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, filename: str = "<src>") -> list[str]:
    """Private attributes and modules used in ``source``, except on ``self``/``cls`` or on a
    name the module itself defines at top level (its own classes, functions, constants)."""
    tree = ast.parse(source)
    local = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            local.add(node.name)
        elif isinstance(node, ast.Assign):
            local |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            local.add(node.target.id)
    out = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in local):
                continue
            out.append(f"{where}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom):
            if any(_private(part) for part in (node.module or "").split(".")):
                out.append(f"{where}: from {node.module} import ...")
            out += [f"{where}: import {a.name} from {node.module}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            out += [f"{where}: import {a.name}" for a in node.names if any(_private(p) for p in a.name.split("."))]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ACCESSORS
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _private(node.args[1].value)):
            out.append(f"{where}: {ast.unparse(node)}")
    return out


def test_no_library_internals_outside_libinternals():
    found = []
    paths = sorted(BROADCAST.rglob("*.py"))
    assert any(p.parent == ALLOWED for p in paths) and any(p.parent == BROADCAST for p in paths)
    for path in paths:
        if ALLOWED not in path.parents:
            found += private_uses(path.read_text(), str(path.relative_to(BROADCAST)))
    assert found == [], "use broadcast.libinternals for these:\n" + "\n".join(found)


def test_libinternals_modules_stay_small():
    """House style: modules under about 800 lines (the package was one module of 1,371, then 1,551)."""
    sizes = {p.name: len(p.read_text().splitlines()) for p in ALLOWED.glob("*.py")}
    assert sizes and max(sizes.values()) < 800, sizes


def test_the_rule_catches_what_it_should_and_only_that():
    bad = '''
from pylibsrtp._binding import ffi
import aiortc._private
from aiortc.rtcrtpsender import _helper
ssrc = sender._ssrc
t._codecs[0]
dtls.transport._connection._nominated
s._RTCRtpSender__ntp_timestamp = 1
self.dtls._tx_srtp.protect(b"")
getattr(t, "_headerExtensions")
'''
    assert len(private_uses(bad)) == 10
    good = '''
_SEQ = object()
class Gate:
    def _take(self): ...
    def go(self):
        self._state = 1
        super().__init__()
        return Gate._take(self), _SEQ.pack_into, self._history[0].real, type(self).__name__
def f(cls):
    return cls._registry, getattr(cls, "__doc__")
'''
    assert private_uses(good) == []


# -- the self-check -------------------------------------------------------------------------------
@pytest.fixture
def patch():
    """A monkeypatch for breaking things on purpose; afterwards the self-check runs again."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
    assert libinternals.self_check(refresh=True)["path"] == "direct"


def test_everything_checks_out_on_the_installed_versions():
    result = libinternals.self_check()
    assert {n: c for n, c in result["checks"].items() if not c["ok"]} == {}
    assert result["path"] == libinternals.active_path() == "direct"
    assert result["refused"] == {"direct": None, "public": None, "relay_forward": None, "batch": None,
                                 "relay_direct": None}
    assert result["sender_reports"] and result["feedback"] and result["relay_forward"] and result["batch"]
    assert result["relay_direct"]
    assert set(result["versions"]) >= {"aiortc", "aioice", "pylibsrtp", "av"}
    assert result["versions"]["pylibsrtp"] == pylibsrtp.__version__
    assert json.loads(json.dumps(result)) == result
    assert libinternals.report() == result


def test_cheap_and_cached():
    libinternals.self_check()
    # the check's own CPU (it runs in this thread): wall time on the 2 shared cores of a full
    # suite also counts whatever else runs, and this failed there on unchanged code
    t = time.thread_time()
    fresh = libinternals.self_check(refresh=True)
    assert time.thread_time() - t < 0.05 and fresh["elapsed_ms"] > 0
    t = time.perf_counter()
    for _ in range(100):
        libinternals.report()
    assert (time.perf_counter() - t) / 100 < 0.001
    libinternals.report()["checks"].clear()  # callers get a copy
    assert libinternals.report()["checks"]


async def test_runs_inside_a_running_loop_and_in_a_thread_without_one():
    assert libinternals.self_check(refresh=True)["path"] == "direct"
    out = {}
    thread = threading.Thread(target=lambda: out.update(libinternals.self_check(refresh=True)))
    thread.start()
    thread.join()
    assert out["path"] == "direct" and all(c["ok"] for c in out["checks"].values())


def test_no_trailer_constant_no_direct_path(patch):
    patch.delattr(pylibsrtp, "SRTP_MAX_TRAILER_LEN")
    result = libinternals.self_check(refresh=True)
    assert result["path"] == "public"
    assert "SRTP_MAX_TRAILER_LEN" in result["refused"]["direct"] and result["refused"]["public"] is None
    assert not result["checks"]["srtp.session_buffer"]["ok"]
    assert libinternals.direct_protect_path(pylibsrtp.Session(), object()) is None


def test_a_renamed_sender_method_is_reported(patch):
    async def handle(self, packet):  # upstream stopped calling _retransmit/_send_keyframe
        return None

    patch.setattr(RTCRtpSender, "_handle_rtcp_packet", handle)
    result = libinternals.self_check(refresh=True)
    assert not result["feedback"] and "_retransmit" in result["checks"]["sender.feedback"]["detail"]
    assert result["path"] == "direct"  # sending does not depend on it


def test_never_raises(patch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("upstream changed")

    patch.setattr(RTCDtlsTransport, "__init__", broken)
    result = libinternals.self_check(refresh=True)
    assert result["path"] == "generic"
    assert "upstream changed" in result["refused"]["public"]
    assert not result["checks"]["dtls.tx_srtp"]["ok"] and result["checks"]["srtp.binding"]["ok"]
    json.dumps(result)


def test_a_receiver_that_no_longer_queues_frames_refuses_forwarding(patch):
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    async def handle(self, packet, arrival_time_ms):  # upstream reorganized its receive path
        return None

    patch.setattr(RTCRtpReceiver, "_handle_rtp_packet", handle)
    result = libinternals.self_check(refresh=True)
    assert not result["relay_forward"] and not result["checks"]["receiver.tap"]["ok"]
    assert "decoder_queue" in result["refused"]["relay_forward"]
    assert libinternals.relay_forward_refused() == result["refused"]["relay_forward"]
    assert result["path"] == "direct"  # the fan-out does not depend on it


async def test_a_tapped_receiver_never_decodes():
    from aiortc.rtcdtlstransport import RTCCertificate
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
    from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver

    from tests.polling import until

    dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("video", dtls)
    receiver._track = RemoteStreamTrack("video")  # as RTCPeerConnection sets it
    assert libinternals.tap_receiver(receiver, lambda packet: None)
    assert libinternals.receiver_pli(receiver) is not None
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[vp8]))
    # receive() starts aiortc's decoder thread; it finds nothing to decode and ends at once
    await until(lambda: not any(t.name == "video-decoder" and t.is_alive() for t in threading.enumerate()),
                timeout=10, what="the decoder thread gone")
    await receiver.stop()


def test_never_raises_even_on_its_own_bug(patch):
    patch.setattr(libinternals.selfcheck, "_versions", lambda: 1 / 0)
    result = libinternals.self_check(refresh=True)
    assert result["path"] == "generic" and "ZeroDivisionError" in result["refused"]["direct"]


# -- the name-mangled sender-report counters: never create an attribute ----------------------------
async def throwaway_sender():
    from aiortc.rtcdtlstransport import RTCCertificate
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

    dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    return RTCRtpSender("video", dtls)


async def test_sender_report_counters_are_written_where_aiortc_reads_them():
    sender = await throwaway_sender()
    assert libinternals.update_sender_report(sender, 1 << 40, 90_000, 7, 7000)
    assert libinternals.sender_report(sender) == {"ntp_timestamp": 1 << 40, "rtp_timestamp": 90_000,
                                                  "packet_count": 7, "octet_count": 7000}


async def test_a_renamed_counter_is_never_created():
    sender = await throwaway_sender()
    del sender._RTCRtpSender__ntp_timestamp  # as if upstream renamed it
    before = set(vars(sender))
    assert libinternals.sender_report_writer(sender) is None
    assert not libinternals.update_sender_report(sender, 1, 2, 3, 4)
    assert set(vars(sender)) == before and not hasattr(sender, "_RTCRtpSender__ntp_timestamp")
    assert libinternals.sender_report(sender) is None


def test_feedback_is_not_routed_onto_an_object_without_it():
    class Other:
        pass

    other = Other()
    assert not libinternals.route_feedback(other, lambda seq: None, lambda: None)
    assert vars(other) == {}

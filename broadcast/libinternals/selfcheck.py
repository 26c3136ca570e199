"""The self-check: every internal relied on in :mod:`broadcast.libinternals` checked once,
on the installed versions and on real (throwaway) objects; the fastest path that works."""

from __future__ import annotations

import asyncio
import copy
import logging
import sys
import time
from collections.abc import Callable

import aioice
import aiortc
import pylibsrtp

from broadcast.libinternals import batch, common, join, packetizers, sender, tap

__all__ = ["self_check", "report", "active_path"]

log = logging.getLogger("broadcast.libinternals")


def self_check(*, refresh: bool = False) -> dict:
    """Check every internal relied on here against the installed libraries; cached.

    Returns :func:`report`'s dict. Never raises: a failing check is reported, and the
    fan-out uses the fastest path whose checks pass. ``refresh=True`` checks again.
    """
    with common.lock:
        if common.cached() is None or refresh:
            try:
                common.store_result(_run_checks())
            except Exception as exc:  # a bug here must not stop the server: say so, use the safest path
                log.exception("broadcast.libinternals self-check failed")
                try:
                    versions = _versions()
                except Exception:
                    versions = {}
                why = f"self-check failed: {exc!r}"
                common.store_result({
                    "versions": versions, "checks": {}, "path": "generic",
                    "refused": {"direct": why, "public": why, "relay_forward": why, "batch": why, "relay_direct": why},
                    "relay_forward": False, "relay_direct": False, "batch": False,
                    "sender_reports": False, "feedback": False,
                    "join": {part: False for part in join.JOIN_PARTS},
                    "join_refused": {part: why for part in join.JOIN_PARTS}, "elapsed_ms": 0.0})
        return copy.deepcopy(common.cached())


common.run_with(self_check)


def report() -> dict:
    """The self-check's result (run now if it never ran), JSON-able::

        {"versions": {"aiortc", "aioice", "pylibsrtp", "av", "python"},
         "checks": {name: {"ok": bool, "detail": str}},
         "path": "direct" | "public" | "generic",
         "refused": {"direct": reason | None, "public": reason | None, "relay_forward": reason | None,
                     "batch": reason | None, "relay_direct": reason | None},
         "relay_forward": bool, "relay_direct": bool, "batch": bool, "sender_reports": bool, "feedback": bool,
         "elapsed_ms": float}
    """
    return self_check()


def active_path() -> str:
    """The fastest per-packet path the installed libraries allow (see :data:`PATHS`)."""
    return common.result()["path"]


# Which checks each path needs (the generic path's are needed by all).
_NEEDS = {
    "generic": ("dtls.tx_srtp", "ice.send"),
    "public": ("ice.selected_pair",),
    "direct": ("srtp.binding", "srtp.session_buffer", "srtp.direct_matches_protect", "asyncio.datagram_socket"),
    "relay_forward": ("receiver.tap", "receiver.pli", "codecs.vp8_packetize"),
    "relay_direct": ("receiver.direct",),  # and everything relay_forward needs: it receives for the tap
    "batch": ("socket.sendmmsg",),  # and everything direct needs: it is the direct path, batched
}


def _run_checks() -> dict:
    t0 = time.perf_counter()
    checks: dict[str, dict] = {}

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            checks[name] = {"ok": True, "detail": fn()}
        except Exception as exc:
            checks[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}

    objects: dict = {}
    try:
        objects = _throwaway_objects()
        objects_error = None
    except Exception as exc:
        objects_error = f"cannot build throwaway aiortc objects: {type(exc).__name__}: {exc}"

    def need(key: str):
        if key not in objects:
            raise RuntimeError(objects_error or f"no {key}")
        return objects[key]

    check("sender.ssrc", lambda: sender._check_ssrc(need("sender")))
    check("sender.feedback", lambda: sender._check_feedback(need("sender")))
    check("sender.report_fields", lambda: sender._check_report_fields(need("sender")))
    check("transceiver.negotiated", lambda: sender._check_transceiver(need("transceiver")))
    check("dtls.tx_srtp", lambda: common.has(need("dtls"), "_tx_srtp", "RTCDtlsTransport"))
    check("ice.send", lambda: sender._check_ice_send(need("ice")))
    check("ice.selected_pair", lambda: sender._check_selected_pair(need("ice")))
    check("srtp.binding", sender._check_binding)
    check("srtp.session_buffer", sender._check_session_buffer)
    check("srtp.direct_matches_protect", sender._check_direct_matches_protect)
    check("asyncio.datagram_socket", sender._check_datagram_socket)
    check("codecs.vp8_packetize", packetizers._check_vp8)
    check("codecs.h264_packetize", packetizers._check_h264)
    check("receiver.tap", lambda: tap._check_receiver_tap(need("receiver")))
    check("receiver.pli", lambda: tap._check_receiver_pli(need("receiver")))
    check("receiver.direct", lambda: tap._check_receiver_direct(need("receiver"), need("ice")))
    check("socket.sendmmsg", batch._check_sendmmsg)
    for part in join.JOIN_PARTS:
        check(f"join.{part}", join._JOIN_CHECKS[part])

    def failing(path: str) -> str | None:
        bad = [f"{n}: {checks[n]['detail']}" for n in _NEEDS[path] if not checks[n]["ok"]]
        return "; ".join(bad) or None

    refused_public = failing("public")
    refused_direct = refused_public or failing("direct")
    path = "direct" if refused_direct is None else "public" if refused_public is None else "generic"
    refused_forward = failing("relay_forward")
    if refused_forward:
        log.warning("relays decode and re-encode: forwarding refused (%s)", refused_forward)
    refused_batch = refused_direct or failing("batch")
    refused_rx = refused_forward or failing("relay_direct")
    if failing("generic"):
        log.error("aiortc %s: even the generic send path is broken: %s", aiortc.__version__, failing("generic"))
    if path != "direct":
        log.warning("broadcast fan-out uses the %s path: direct refused (%s)", path, refused_direct)
    return {
        "versions": _versions(),
        "checks": checks,
        "path": path,
        "refused": {"direct": refused_direct, "public": refused_public, "relay_forward": refused_forward,
                    "batch": refused_batch, "relay_direct": refused_rx},
        "relay_forward": refused_forward is None,
        "relay_direct": refused_rx is None,
        "batch": refused_batch is None,
        "sender_reports": checks["sender.report_fields"]["ok"],
        "feedback": checks["sender.feedback"]["ok"],
        "join": {part: checks[f"join.{part}"]["ok"] for part in join.JOIN_PARTS},
        "join_refused": {part: None if checks[f"join.{part}"]["ok"] else checks[f"join.{part}"]["detail"]
                         for part in join.JOIN_PARTS},
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
    }


def _versions() -> dict:
    out = {}
    for name, mod in (("aiortc", aiortc), ("aioice", aioice), ("pylibsrtp", pylibsrtp)):
        out[name] = getattr(mod, "__version__", None)
    av = sys.modules.get("av")
    if av is None:
        try:
            import av
        except ImportError:
            av = None
    out["av"] = getattr(av, "__version__", None)
    out["python"] = sys.version.split()[0]
    return out


def _throwaway_objects() -> dict:
    """A real RTCRtpSender on a real (never started) DTLS and ICE transport, and a transceiver:
    instance attributes set in ``__init__`` can only be checked on instances. No network:
    nothing is gathered or started. aiortc's constructors want an event loop: when none runs
    in this thread, they are built inside a short-lived one."""
    from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver

    def build() -> dict:
        ice = RTCIceTransport(RTCIceGatherer())
        dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
        sender = RTCRtpSender("video", dtls)
        receiver = RTCRtpReceiver("video", dtls)
        transceiver = RTCRtpTransceiver("video", receiver, sender)
        return {"ice": ice, "dtls": dtls, "sender": sender, "transceiver": transceiver, "receiver": receiver}

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async def in_loop() -> dict:
            return build()

        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(in_loop())
        finally:
            loop.close()
    return build()

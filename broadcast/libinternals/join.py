"""The join: a WHEP peer's set-up without the work it does not need (:func:`lean_join`;
docs/broadcast.md, "Joining", and docs/decisions.md, "Issue 14: lean joins")."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import threading
import time

from aioice import ice as _aioice_ice
from aiortc import rtcpeerconnection as _rtcpeerconnection
from aiortc import sdp as _sdp
from aiortc.rate import RemoteBitrateEstimator as _RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCCertificate as _RTCCertificate

from broadcast.libinternals import common
from broadcast.libinternals.common import reads

__all__ = ["JOIN_PARTS", "LeanJoin", "lean_join", "shared_certificate", "host_addresses", "join_parts",
           "HOST_ADDRESSES_TTL_S", "CERTIFICATE_MAX_AGE_S", "SharedCertificate"]

JOIN_PARTS = ("certificate", "estimator", "codecs", "offer_parse", "answer_parse", "host_addresses", "ice_lite")
"""What :func:`lean_join` changes in a server-side peer's set-up, each with its own self-check
(``join.<part>``); a part whose check fails is left as aiortc does it:

- ``certificate``: the peer gets the process's shared DTLS certificate (:func:`shared_certificate`,
  its fingerprints and OpenSSL context made once) instead of a new EC key and X.509 each;
- ``estimator``: each receiver's ``RemoteBitrateEstimator`` (a 1,000-bucket ``RateCounter``) is
  built at the receiver's first RTP packet with an abs-send-time extension, not in its
  ``__init__``: a WHEP peer only sends, so it is never built;
- ``codecs``: aiortc's ``find_common_codecs`` without ``copy.deepcopy`` (the same result, fresh
  objects: the codecs' fields are strings, ints and a dict of them);
- ``offer_parse``: ``setRemoteDescription`` takes the offer already parsed by
  :func:`broadcast.offers.check_offer` instead of parsing the same text again;
- ``answer_parse``: ``setLocalDescription`` takes the answer ``createAnswer`` built (its DTLS
  role written in it, ``dtls_role``) instead of parsing the text ``createAnswer`` made of it;
- ``host_addresses``: aioice's list of the machine's addresses (``ifaddr.get_adapters``, one
  ``getifaddrs`` and a walk of every interface) is cached :data:`HOST_ADDRESSES_TTL_S`, and
  optionally narrowed to the addresses the server is reached at (fewer sockets, fewer STUN
  checks);
- ``ice_lite``: the server's end is an ICE-lite agent (RFC 8445 section 2.5): the answer says
  ``a=ice-lite``, the viewer (a full agent, controlling) runs every check, and the server only
  answers them (:class:`LiteConnection`): no checks of its own, no 20 ms pacing, no triggered
  checks; a pair is valid when the viewer's check on it arrives, selected when that check
  nominates it. A server has public host candidates (or a TURN server in front), which is
  what ICE-lite is for."""

LITE_CONNECT_TIMEOUT_S = 30.0
"""An ICE-lite end whose viewer nominated no pair within this gives up (a full agent fails when
its checks time out; a lite one has none)."""

HOST_ADDRESSES_TTL_S = 10.0
"""How long the machine's address list is reused (an interface that comes up is seen after this)."""
CERTIFICATE_MAX_AGE_S = 24 * 3600.0
"""The shared certificate is replaced after this (aiortc makes certificates valid for 30 days)."""


class LeanJoin:
    """What one WHEP negotiation (the task that runs :func:`lean_join`) skips or shares."""

    __slots__ = ("active", "certificate", "offer", "addresses", "dtls_role", "answer", "ice_lite")

    def __init__(self, certificate, offer, addresses, dtls_role=None, ice_lite=False):
        self.active = True
        self.ice_lite = ice_lite
        """The peer's ICE end is a :class:`LiteConnection`."""
        self.certificate = certificate
        """The shared certificate, or None (aiortc makes one)."""
        self.offer = offer
        """``(text, parsed)``: handed once to the first parse of exactly ``text``, then None."""
        self.addresses = addresses
        """The host addresses wanted (a subset of the machine's), or None for all of them."""
        self.dtls_role = dtls_role
        """``"server"`` or ``"client"``: written into the answer ``createAnswer`` makes, whose
        object is then handed to ``setLocalDescription`` (None: its text is parsed again)."""
        self.answer = None
        """``(text, built)``: the answer ``createAnswer`` made, until ``setLocalDescription`` parses it."""


_LEAN: contextvars.ContextVar[LeanJoin | None] = contextvars.ContextVar("councilcast_lean_join", default=None)
_join_installed = False
_join_on: dict[str, bool] = {part: False for part in JOIN_PARTS}


def _lean() -> LeanJoin | None:
    lean = _LEAN.get()
    return lean if lean is not None and lean.active else None


def join_parts() -> dict[str, bool]:
    """Which of :data:`JOIN_PARTS` :func:`lean_join` applies on this aiortc and aioice."""
    return dict(common.result()["join"])


@contextlib.contextmanager
def lean_join(offer: tuple[str, object] | None = None, addresses: list[str] | None = None,
              dtls_role: str | None = None, ice_lite: bool = True):
    """Negotiate a server-side peer inside this block with the parts of :data:`JOIN_PARTS`
    that passed their self-check: create the ``RTCPeerConnection`` and call its
    ``setRemoteDescription`` and ``setLocalDescription`` in it.

    ``offer``: ``(sdp_text, aiortc.sdp.SessionDescription)`` already parsed from that text.
    ``addresses``: the host candidates wanted (others are left out if any of these is on the
    machine; all of them otherwise). ``dtls_role``: ``"server"`` (``a=setup:passive``) or
    ``"client"`` (``active``) in the answer ``createAnswer`` makes (as
    :func:`broadcast.channels.as_dtls_server` would write it in its text), so that
    ``setLocalDescription`` takes that answer as built rather than parsing it again.
    ``ice_lite``: the peer's ICE end only answers the remote end's checks (the remote end must
    be a full agent that offers: a WHEP viewer or a relay pulling). Only the
    task that runs the block (and the tasks it starts meanwhile) sees it: a publisher or a
    relay negotiating at the same time is untouched.
    """
    if dtls_role not in (None, "server", "client"):
        raise ValueError(f"dtls_role is 'server', 'client' or None, not {dtls_role!r}")
    parts = join_parts()
    _install_join(parts)
    lean = LeanJoin(shared_certificate() if parts["certificate"] else None,
                    offer if parts["offer_parse"] else None,
                    list(addresses) if addresses and parts["host_addresses"] else None,
                    dtls_role if parts["answer_parse"] else None,
                    ice_lite and parts["ice_lite"])
    token = _LEAN.set(lean)
    try:
        yield lean
    finally:
        lean.active = False  # tasks started in the block keep the context: they see it ended
        _LEAN.reset(token)


def _install_join(parts: dict[str, bool]) -> None:
    """Put the hooks in aiortc's and aioice's modules once; each does aiortc's own work unless a
    :func:`lean_join` block runs in the calling task."""
    global _join_installed
    with common.lock:
        if _join_installed:
            _join_on.update(parts)
            return
        from aioice import ice as aioice_ice
        from aiortc import rtcicetransport, rtcpeerconnection, rtcrtpreceiver, sdp

        rtcpeerconnection.RTCCertificate = _PeerCertificates
        rtcrtpreceiver.RemoteBitrateEstimator = _estimator
        rtcpeerconnection.find_common_codecs = _common_codecs
        rtcpeerconnection.wrap_session_description = _wrap
        sdp.SessionDescription.parse = classmethod(_parse)
        aioice_ice.get_host_addresses = _host_addresses
        rtcicetransport.Connection = _ice_connection
        rtcicetransport.RTCIceGatherer.getLocalParameters = _local_parameters
        _join_on.update(parts)
        _join_installed = True


# certificate -------------------------------------------------------------------------------
class SharedCertificate(_RTCCertificate):
    """One DTLS certificate for many peers: its fingerprints and its OpenSSL context
    (``SSL_CTX``: the key and certificate loaded, the ciphers and SRTP profiles set) are made
    once; each DTLS transport still makes its own ``SSL`` connection from the context, so
    every handshake has its own ephemeral ECDHE keys. The session cache is off: WebRTC
    peers never resume a DTLS session, and the cache would grow with the joins."""

    def __init__(self, key, cert):
        super().__init__(key, cert)
        self.created = time.time()
        self._fingerprints = None
        self._contexts: dict = {}

    def getFingerprints(self):
        if self._fingerprints is None:
            self._fingerprints = super().getFingerprints()
        return [copy.copy(f) for f in self._fingerprints]

    def _create_ssl_context(self, srtp_profiles):
        key = tuple(p.openssl_profile for p in srtp_profiles)
        ctx = self._contexts.get(key)
        if ctx is None:
            from aiortc.rtcdtlstransport import SSL  # pyOpenSSL, as aiortc imports it

            ctx = super()._create_ssl_context(srtp_profiles)
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            self._contexts[key] = ctx
        return ctx


_shared_cert: SharedCertificate | None = None
_ORIG_GENERATE = _RTCCertificate.generateCertificate  # bound to RTCCertificate


def shared_certificate(max_age_s: float = CERTIFICATE_MAX_AGE_S) -> SharedCertificate:
    """The process's DTLS certificate for server-side peers, replaced when older than ``max_age_s``
    (peers made before keep theirs: a certificate is valid for 30 days)."""
    global _shared_cert
    cert = _shared_cert
    if cert is None or time.time() - cert.created > max_age_s:
        cert = _shared_cert = SharedCertificate.generateCertificate()
    return cert


class _PeerCertificates(_RTCCertificate):
    """Stands for ``RTCCertificate`` in ``aiortc.rtcpeerconnection``, whose ``__init__`` calls
    ``RTCCertificate.generateCertificate()``: inside :func:`lean_join`, the shared certificate."""

    @classmethod
    def generateCertificate(cls):
        lean = _lean()
        if lean is not None and lean.certificate is not None and _join_on["certificate"]:
            return lean.certificate
        return _ORIG_GENERATE()


# estimator ---------------------------------------------------------------------------------
class _LazyEstimator:
    """A ``RemoteBitrateEstimator`` made at its first ``add`` (the receiver's first RTP packet
    with abs-send-time), then used as is: the same estimates, none of its cost before."""

    __slots__ = ("real",)

    def __init__(self):
        self.real = None

    def add(self, *args, **kwargs):
        if self.real is None:
            self.real = _RemoteBitrateEstimator()
        return self.real.add(*args, **kwargs)

    def __getattr__(self, name):
        if name == "real":
            raise AttributeError(name)
        if self.real is None:
            self.real = _RemoteBitrateEstimator()
        return getattr(self.real, name)


def _estimator():
    """Stands for ``RemoteBitrateEstimator`` in ``aiortc.rtcrtpreceiver`` (``RTCRtpReceiver.__init__``)."""
    if _join_on["estimator"] and _lean() is not None:
        return _LazyEstimator()
    return _RemoteBitrateEstimator()


# codecs ------------------------------------------------------------------------------------
_ORIG_COMMON_CODECS = _rtcpeerconnection.find_common_codecs


def _copy_codec(c):
    from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters

    return RTCRtpCodecParameters(mimeType=c.mimeType, clockRate=c.clockRate, channels=c.channels,
                                 payloadType=c.payloadType,
                                 rtcpFeedback=[RTCRtcpFeedback(f.type, f.parameter) for f in c.rtcpFeedback],
                                 parameters=dict(c.parameters))


def _fast_common_codecs(local_codecs, remote_codecs):
    """aiortc 1.16's ``find_common_codecs`` with a field-by-field copy for ``copy.deepcopy``."""
    from aiortc import rtp
    from aiortc.codecs import is_rtx

    compatible = _rtcpeerconnection.is_codec_compatible
    common = []
    common_base = {}
    for c in remote_codecs:
        if is_rtx(c):
            apt = c.parameters.get("apt")
            if isinstance(apt, int) and apt in common_base:
                if c.clockRate == common_base[apt].clockRate:
                    common.append(_copy_codec(c))
            continue
        for codec in local_codecs:
            if compatible(codec, c):
                codec = _copy_codec(codec)
                if c.payloadType in rtp.DYNAMIC_PAYLOAD_TYPES:
                    codec.payloadType = c.payloadType
                codec.rtcpFeedback = [x for x in codec.rtcpFeedback if x in c.rtcpFeedback]
                common.append(codec)
                common_base[codec.payloadType] = codec
                break
    return common


def _common_codecs(local_codecs, remote_codecs):
    """Stands for ``find_common_codecs`` in ``aiortc.rtcpeerconnection``."""
    if _join_on["codecs"] and _lean() is not None:
        return _fast_common_codecs(local_codecs, remote_codecs)
    return _ORIG_COMMON_CODECS(local_codecs, remote_codecs)


# offer_parse -------------------------------------------------------------------------------
_ORIG_PARSE = _sdp.SessionDescription.parse.__func__


def _parse(cls, sdp: str):
    """Stands for ``aiortc.sdp.SessionDescription.parse``: inside :func:`lean_join`, the offer
    parsed before is handed over once, for exactly its text."""
    lean = _lean()
    if lean is not None and cls is _sdp.SessionDescription:
        if lean.offer is not None and _join_on["offer_parse"]:
            text, parsed = lean.offer
            if sdp is text or sdp == text:
                lean.offer = None
                return parsed
        if lean.answer is not None and _join_on["answer_parse"]:
            text, built = lean.answer
            if sdp is text or sdp == text:
                lean.answer = None
                return built
    return _ORIG_PARSE(cls, sdp)


# answer_parse ------------------------------------------------------------------------------
_ORIG_WRAP = _rtcpeerconnection.wrap_session_description
_SETUP = {"server": "passive", "client": "active"}


def _wrap(session_description):
    """Stands for ``wrap_session_description`` in ``aiortc.rtcpeerconnection``, which
    ``createAnswer`` returns its answer through: inside :func:`lean_join` with a ``dtls_role``,
    the role goes into the answer and the answer is kept for ``setLocalDescription``."""
    lean = _lean()
    if (lean is None or lean.dtls_role is None or not _join_on["answer_parse"] or session_description is None
            or session_description.type != "answer" or lean.answer is not None):
        return _ORIG_WRAP(session_description)
    for media in session_description.media:
        media.dtls.role = lean.dtls_role
    out = _ORIG_WRAP(session_description)
    lean.answer = (out.sdp, session_description)
    lean.dtls_role = None  # once: the answer given out later (localDescription) is not kept
    return out


# host_addresses ----------------------------------------------------------------------------
_ORIG_HOST_ADDRESSES = _aioice_ice.get_host_addresses
_addresses_cache: dict[tuple[bool, bool], tuple[float, list[str]]] = {}


def host_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    """aioice's host addresses (every interface's, loopback and link-local left out), cached
    :data:`HOST_ADDRESSES_TTL_S`."""
    key = (use_ipv4, use_ipv6)
    now = time.monotonic()
    hit = _addresses_cache.get(key)
    if hit is None or now - hit[0] > HOST_ADDRESSES_TTL_S:
        hit = _addresses_cache[key] = (now, list(_ORIG_HOST_ADDRESSES(use_ipv4, use_ipv6)))
    return list(hit[1])


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Stands for ``get_host_addresses`` in ``aioice.ice`` (``Connection.gather_candidates``)."""
    lean = _lean()
    if lean is None or not _join_on["host_addresses"]:
        return _ORIG_HOST_ADDRESSES(use_ipv4, use_ipv6)
    found = host_addresses(use_ipv4, use_ipv6)
    if lean.addresses:
        wanted = [a for a in found if a in lean.addresses]
        if wanted:
            return wanted
    return found


# ice_lite ----------------------------------------------------------------------------------
from aiortc import rtcicetransport as _rtcicetransport  # noqa: E402

_ORIG_CONNECTION = _rtcicetransport.Connection  # aioice.Connection, as aiortc imports it
_ORIG_LOCAL_PARAMETERS = _rtcicetransport.RTCIceGatherer.getLocalParameters


class LiteConnection(_ORIG_CONNECTION):
    """aioice's ``Connection`` as an ICE-lite agent (RFC 8445 sections 2.5, 6.1.1 and 7.3): it
    gathers host candidates and answers the full agent's checks (aioice's ``request_received``,
    unchanged: authentication, role conflicts, the response), and starts no check of its own.
    A check that arrives makes its pair valid (a response went back on the same pair); one
    with USE-CANDIDATE selects it, which completes ICE. aioice's consent freshness (RFC 7675)
    runs as before once connected: the server still asks the viewer before it keeps sending."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lite_deadline = None

    def check_start_task(self, pair) -> None:
        """No checks from a lite agent: not paced ones, not triggered ones."""

    def _check_periodic(self) -> bool:
        # connect() calls this every 20 ms until it returns False, then waits for the check
        # list's state, or fails at once if the list is empty: so wait here until a pair
        # exists (a candidate of the offer, or a check from a prflx address), then hand over.
        if self._lite_deadline is None:
            loop = asyncio.get_running_loop()
            self._lite_deadline = loop.call_later(LITE_CONNECT_TIMEOUT_S, self._lite_give_up)
        return not self._check_list_done and not self._check_list

    def _lite_give_up(self) -> None:
        if not self._check_list_done:
            self._check_list_state.put_nowait(_aioice_ice.ICE_FAILED)
            self._check_list_done = True

    def check_incoming(self, message, addr, protocol) -> None:
        super().check_incoming(message, addr, protocol)  # finds or learns the pair; starts nothing
        pair = next((p for p in self._check_list if p.protocol is protocol and p.remote_addr == tuple(addr[:2])),
                    None)
        if pair is None:  # pragma: no cover - check_incoming always leaves the pair in the list
            return
        if pair.state != _aioice_ice.CandidatePair.State.SUCCEEDED:
            self.check_state(pair, _aioice_ice.CandidatePair.State.SUCCEEDED)
        if pair.remote_nominated and not pair.nominated:
            pair.nominated = True
            self.check_complete(pair)

    async def close(self) -> None:
        if self._lite_deadline is not None:
            self._lite_deadline.cancel()
        await super().close()


def _ice_connection(*args, **kwargs):
    """Stands for ``Connection`` in ``aiortc.rtcicetransport`` (``RTCIceGatherer.__init__``)."""
    lean = _lean()
    if lean is not None and lean.ice_lite and _join_on["ice_lite"]:
        return LiteConnection(*args, **kwargs)
    return _ORIG_CONNECTION(*args, **kwargs)


def _local_parameters(self):
    """Stands for ``RTCIceGatherer.getLocalParameters``: a lite end says so (``a=ice-lite``)."""
    params = _ORIG_LOCAL_PARAMETERS(self)
    if isinstance(getattr(self, "_connection", None), LiteConnection):
        params.iceLite = True
    return params


# the join's self-checks --------------------------------------------------------------------
def _check_join_certificate() -> str:
    from aiortc import rtcdtlstransport
    from aiortc.rtcdtlstransport import SSL  # pyOpenSSL, as aiortc imports it

    reads(_rtcpeerconnection.RTCPeerConnection.__init__, ["RTCCertificate", "generateCertificate"],
           "RTCPeerConnection.__init__")
    reads(rtcdtlstransport.RTCDtlsTransport.start, ["_create_ssl_context"], "RTCDtlsTransport.start")
    if not hasattr(SSL.Context, "set_session_cache_mode") or not hasattr(SSL, "SESS_CACHE_OFF"):
        raise AttributeError("pyOpenSSL has no Context.set_session_cache_mode / SESS_CACHE_OFF")
    cert = SharedCertificate.generateCertificate()
    profiles = rtcdtlstransport.SRTP_PROFILES
    if cert._create_ssl_context(profiles) is not cert._create_ssl_context(profiles):
        raise ValueError("the OpenSSL context is not reused")
    if cert.getFingerprints() != _RTCCertificate.getFingerprints(cert):
        raise ValueError("the cached fingerprints differ")
    return "RTCPeerConnection.__init__ calls RTCCertificate.generateCertificate(); DTLS start calls _create_ssl_context"


def _check_join_estimator() -> str:
    from aiortc import rtcrtpreceiver

    reads(rtcrtpreceiver.RTCRtpReceiver.__init__, ["RemoteBitrateEstimator"], "RTCRtpReceiver.__init__")
    code = rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet.__code__
    if "add" not in code.co_names or "_RTCRtpReceiver__remote_bitrate_estimator" not in code.co_names:
        raise LookupError("RTCRtpReceiver._handle_rtp_packet no longer calls __remote_bitrate_estimator.add")
    lazy = _LazyEstimator()
    if lazy.real is not None or lazy.add(arrival_time_ms=1000, abs_send_time=0, payload_size=100, ssrc=1) is not None:
        raise ValueError("the lazy estimator does not start as the real one")
    if not isinstance(lazy.real, _RemoteBitrateEstimator):
        raise ValueError("the lazy estimator made no real one at its first packet")
    return "RTCRtpReceiver.__init__ makes a RemoteBitrateEstimator; _handle_rtp_packet only calls its add()"


_SAMPLE_OFFER_CODECS = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 45 98 99 127 121 39 40
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00
a=setup:actpass
a=mid:0
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=recvonly
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:45 AV1/90000
a=rtpmap:98 VP9/90000
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:127 H264/90000
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:121 red/90000
a=rtpmap:39 ulpfec/90000
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=121
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00
a=setup:actpass
a=mid:1
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
"""
"""A Chromium-like WHEP offer: what the codec and parse checks run on."""


def _check_join_codecs() -> str:
    from aiortc.codecs import CODECS

    reads(_rtcpeerconnection.RTCPeerConnection.setRemoteDescription, ["find_common_codecs"],
           "RTCPeerConnection.setRemoteDescription")
    desc = _ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)
    n = 0
    for media in desc.media:
        local = CODECS[media.kind]
        before = copy.deepcopy(local)
        stock = _ORIG_COMMON_CODECS(local, media.rtp.codecs)
        fast = _fast_common_codecs(local, media.rtp.codecs)
        if fast != stock or not fast:
            raise ValueError(f"{media.kind}: the copying match gives {fast!r}, aiortc's {stock!r}")
        for a in fast:
            a.parameters["x"] = 1
            a.rtcpFeedback.clear()
        if local != before:
            raise ValueError("the copying match shares objects with aiortc's codec table")
        n += len(fast)
    return f"find_common_codecs without deepcopy: the same {n} codecs on a Chromium-like offer"


def _check_join_offer_parse() -> str:
    reads(_rtcpeerconnection.RTCPeerConnection.setRemoteDescription, ["SessionDescription", "parse"],
           "RTCPeerConnection.setRemoteDescription")
    if not isinstance(_sdp.SessionDescription.__dict__.get("parse"), classmethod):
        raise TypeError("aiortc.sdp.SessionDescription.parse is not a classmethod")
    a = _ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)
    if str(a) != str(_ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)):
        raise ValueError("parsing the same offer twice gives two different descriptions")
    return "setRemoteDescription parses with aiortc.sdp.SessionDescription.parse (a classmethod)"


def _check_join_host_addresses() -> str:
    import inspect

    reads(_aioice_ice.Connection.gather_candidates, ["get_host_addresses"], "aioice Connection.gather_candidates")
    params = list(inspect.signature(_ORIG_HOST_ADDRESSES).parameters)
    if params != ["use_ipv4", "use_ipv6"]:
        raise TypeError(f"aioice.ice.get_host_addresses takes {params}")
    found = _ORIG_HOST_ADDRESSES(True, True)
    if not isinstance(found, list) or not all(isinstance(a, str) for a in found):
        raise TypeError("aioice.ice.get_host_addresses does not return a list of strings")
    return f"aioice gathers on get_host_addresses(use_ipv4, use_ipv6): {len(found)} here"


def _check_join_answer_parse() -> str:
    """A throwaway peer answers the sample offer (no network: nothing is gathered); the answer as
    built, with the DTLS role written in it, must be what parsing its own text gives."""
    pc_cls = _rtcpeerconnection.RTCPeerConnection
    reads(pc_cls.createAnswer, ["wrap_session_description"], "RTCPeerConnection.createAnswer")
    reads(pc_cls.setLocalDescription, ["SessionDescription", "parse"], "RTCPeerConnection.setLocalDescription")
    from aiortc import RTCConfiguration, RTCSessionDescription

    out: dict = {}

    async def answer() -> None:
        pc = pc_cls(RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(_SAMPLE_OFFER_CODECS, "offer"))
            built = []
            here = threading.get_ident()
            module = pc_cls.createAnswer.__globals__  # aiortc.rtcpeerconnection's namespace
            previous = module["wrap_session_description"]  # aiortc's, or _wrap (installs wait for common.lock)

            def keep(desc):  # only this thread's call is kept; every other goes on as before
                if threading.get_ident() == here:
                    built.append(desc)
                    return _ORIG_WRAP(desc)
                return previous(desc)

            module["wrap_session_description"] = keep
            try:
                await pc.createAnswer()
            finally:
                module["wrap_session_description"] = previous
            out["built"] = built[0]
        finally:
            await pc.close()

    def run() -> None:
        try:
            asyncio.run(answer())
        except BaseException as exc:  # reported below, in the calling thread
            out["error"] = exc

    thread = threading.Thread(target=run, name="libinternals-answer-check")
    thread.start()
    thread.join(5)
    if "error" in out:
        raise out["error"]
    built = out.get("built")
    if built is None:
        raise RuntimeError("no answer built within 5 s")
    for media in built.media:
        media.dtls.role = "server"
    text = str(built)
    parsed = _ORIG_PARSE(_sdp.SessionDescription, text)
    if str(parsed) != text:
        raise ValueError("aiortc's answer does not read back as the same text")
    if "a=setup:passive" not in text or "a=setup:active" in text:
        raise ValueError("the DTLS role written in the answer is not its a=setup")
    fields = lambda d: [(m.kind, m.rtp.muxId, m.dtls.role, m.rtcp_mux, m.direction, [c.payloadType for c in m.rtp.codecs])  # noqa: E731
                        for m in d.media]
    if fields(built) != fields(parsed):
        raise ValueError("the answer as built differs from its text parsed")
    return "createAnswer returns through wrap_session_description; its answer as built reads back the same"


def _check_join_ice_lite() -> str:
    import dataclasses

    gatherer = _rtcicetransport.RTCIceGatherer
    reads(gatherer.__init__, ["Connection"], "RTCIceGatherer.__init__")
    reads(_ORIG_LOCAL_PARAMETERS, ["RTCIceParameters"], "RTCIceGatherer.getLocalParameters")
    if "iceLite" not in {f.name for f in dataclasses.fields(_rtcicetransport.RTCIceParameters)}:
        raise LookupError("aiortc's RTCIceParameters has no iceLite")
    desc = _ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)
    for media in desc.media:
        media.ice.iceLite = True
    if "\r\na=ice-lite\r\n" not in str(desc):
        raise ValueError("aiortc's SDP does not write a=ice-lite for an iceLite end")
    conn = _ORIG_CONNECTION
    reads(conn.connect, ["_check_periodic", "_check_list", "_check_list_state"], "aioice Connection.connect")
    reads(conn.check_incoming, ["check_start_task", "_find_pair", "remote_nominated"],
          "aioice Connection.check_incoming")
    reads(conn.request_received, ["check_incoming"], "aioice Connection.request_received")
    reads(conn.check_complete, ["_nominated", "_check_list_maybe_complete"], "aioice Connection.check_complete")
    if not hasattr(_aioice_ice, "ICE_FAILED"):
        raise LookupError("aioice.ice has no ICE_FAILED")
    if not hasattr(_aioice_ice.CandidatePair.State, "SUCCEEDED"):
        raise LookupError("aioice CandidatePair.State has no SUCCEEDED")
    return ("RTCIceGatherer makes aioice's Connection; connect() paces checks through _check_periodic "
            "and check_incoming starts triggered ones through check_start_task")


_JOIN_CHECKS = {"certificate": _check_join_certificate, "estimator": _check_join_estimator,
                "codecs": _check_join_codecs, "offer_parse": _check_join_offer_parse,
                "answer_parse": _check_join_answer_parse,
                "host_addresses": _check_join_host_addresses, "ice_lite": _check_join_ice_lite}

"""Every use of a private attribute or module of aiortc, aioice and pylibsrtp, in one place.

The fan-out (:mod:`broadcast.fanout`) sends the same payloads to every viewer without a
task, a packet object or a ``bytes`` copy per packet; that needs parts of aiortc, aioice
and pylibsrtp that are not public (docs/broadcast.md, "Library internals", says which and
why). The rest of ``broadcast/`` calls the small named functions here and never touches an
underscore attribute of a library object (``tests/broadcast/test_libinternals.py``
enforces it by parsing the modules).

:func:`self_check` verifies, once, on the installed versions and on real (throwaway)
objects, that every name relied on here exists, and picks the fastest path that works:

- ``"direct"``: RTP assembled in the SRTP session's own C buffer, protected in place by
  libsrtp through pylibsrtp's binding, sent from that buffer with the socket's ``sendto``;
  for video, where it can (``"batch"``: Linux's ``sendmmsg`` through cffi), a frame's
  packets are assembled side by side in shared slots and sent in one system call
  (:func:`batch_protect_path`);
- ``"public"``: ``Session.protect`` and the datagram transport's ``sendto``;
- ``"generic"``: ``Session.protect`` and aiortc's ICE transport send (one task per packet),
  which is also what a TURN-relayed pair always uses.

It also decides whether a relay can forward the origin's packets without decoding them
(:func:`tap_receiver`, :func:`receiver_pli`; ``"relay_forward"``), or decodes and re-encodes;
and which parts of a WHEP join's set-up can be skipped or shared (:func:`lean_join`,
``"join"``: docs/broadcast.md, "Joining").

:func:`report` gives the versions, each check's result, the active path and why a faster
one was refused, as a JSON-able dict. Both are cheap (a few ms the first time, then cached)
and never raise.

The package's modules, one seam each: :mod:`~broadcast.libinternals.sender` (the viewer's
sender, transceiver, SRTP session and socket, the per-packet paths),
:mod:`~broadcast.libinternals.batch` (``sendmmsg``), :mod:`~broadcast.libinternals.packetizers`,
:mod:`~broadcast.libinternals.tap` (a relay's pull, tapped and received directly),
:mod:`~broadcast.libinternals.join` (the lean join), :mod:`~broadcast.libinternals.selfcheck`
(the checks, the paths chosen, the report) and :mod:`~broadcast.libinternals.common` (the
cached result they share). Import the names from the package: they are all here.
"""

from __future__ import annotations

from broadcast.libinternals.batch import BATCH_SLOTS, BatchPath, batch_protect_path
from broadcast.libinternals.join import JOIN_PARTS, LeanJoin, host_addresses, join_parts, lean_join, shared_certificate
from broadcast.libinternals.packetizers import h264_payloads, vp8_payloads
from broadcast.libinternals.selfcheck import active_path, report, self_check
from broadcast.libinternals.sender import (PATHS, DirectPath, direct_protect_path, generic_sender, route_feedback,
                                           selected_pair, sender_report, sender_report_writer, sender_ssrc,
                                           transceiver_codecs, transceiver_header_extensions, tx_srtp,
                                           update_sender_report)
from broadcast.libinternals.tap import (receive_directly, receiver_pli, receiving_directly, relay_forward_refused,
                                        tap_receiver)

__all__ = [
    "PATHS", "DirectPath", "self_check", "report", "active_path",
    "sender_ssrc", "route_feedback", "sender_report_writer", "update_sender_report", "sender_report",
    "transceiver_codecs", "transceiver_header_extensions",
    "tx_srtp", "selected_pair", "direct_protect_path", "generic_sender",
    "vp8_payloads", "h264_payloads",
    "tap_receiver", "receiver_pli", "relay_forward_refused", "receive_directly", "receiving_directly",
    "BATCH_SLOTS", "BatchPath", "batch_protect_path",
    "JOIN_PARTS", "LeanJoin", "lean_join", "shared_certificate", "host_addresses", "join_parts",
]

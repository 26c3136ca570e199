"""aiortc's own packetizers, so that our payloads are cut exactly as a stock aiortc sender cuts them."""

from __future__ import annotations

from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

__all__ = ["vp8_payloads", "h264_payloads"]


def vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    """RTP payloads of one VP8 frame, cut by aiortc's own packetizer (payload descriptor included)."""
    return Vp8Encoder._packetize(frame, picture_id)


def h264_payloads(access_unit: bytes) -> list[bytes]:
    """RTP payloads (single NAL, STAP-A, FU-A) of one H.264 Annex B access unit, by aiortc's packetizer."""
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


# -- their self-checks ------------------------------------------------------------------------
def _check_vp8() -> str:
    payloads = vp8_payloads(b"\x00" * 3000, 1)
    if not (isinstance(payloads, list) and len(payloads) >= 3 and all(isinstance(p, bytes) for p in payloads)):
        raise ValueError(f"Vp8Encoder._packetize returned {type(payloads).__name__}")
    return f"Vp8Encoder._packetize: 3,000 bytes in {len(payloads)} payloads"


def _check_h264() -> str:
    au = b"\x00\x00\x00\x01\x67" + b"\x01" * 10 + b"\x00\x00\x00\x01\x65" + b"\x02" * 2000
    payloads = h264_payloads(au)
    if not (isinstance(payloads, list) and len(payloads) >= 2 and all(isinstance(p, bytes) for p in payloads)):
        raise ValueError(f"H264Encoder._packetize returned {type(payloads).__name__}")
    return f"H264Encoder._split_bitstream and _packetize: {len(payloads)} payloads"

"""The synthetic camera: its burnt-in clock survives a VP8 round trip; its tone is 440 Hz."""

import time

import av
import numpy as np

from broadcast.encoding import VideoEncoder
from broadcast.synthetic import SyntheticCamera, read_clock


def test_clock_survives_vp8():
    cam = SyntheticCamera("central", 320, 180)
    enc = VideoEncoder("vp8", bitrate=300_000, fps=30)
    dec = av.CodecContext.create("libvpx", "r")
    stamps = []
    decoded = []
    for i in range(10):
        now = time.time() - 1 + i / 30
        stamps.append(int(now * 1000))
        frame = cam.make_video_frame(i, now)
        out = enc.encode(frame, keyframe=(i == 0))
        for p in out.packets:
            decoded += dec.decode(av.Packet(bytes(p)))
    assert len(decoded) == 10
    assert [read_clock(f) for f in decoded] == stamps
    assert (decoded[0].width, decoded[0].height) == (320, 180)


def test_pictures_move():
    cam = SyntheticCamera("central", 160, 120)
    a = cam.make_video_frame(0).to_ndarray()
    b = cam.make_video_frame(1).to_ndarray()
    assert a.shape == (180, 160)  # yuv420p: 120 luma rows + 60 chroma rows
    assert np.count_nonzero(a != b) > 1000


def test_tone_is_440_hz():
    cam = SyntheticCamera("central")
    samples = np.concatenate([cam.make_audio_frame(i).to_ndarray().reshape(-1, 2)[:, 0] for i in range(50)])
    assert samples.size == 48_000
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    assert int(np.argmax(spectrum)) == 440  # 1 s of samples: bin k is k Hz


def test_keyframe_interval_and_forced_keyframes():
    cam = SyntheticCamera("central", 160, 120, fps=10)
    enc = VideoEncoder("vp8", bitrate=200_000, fps=10, keyframe_interval=2.0)
    keys = [enc.encode(cam.make_video_frame(i), keyframe=(i == 7)).keyframe for i in range(45)]
    assert keys[0] and keys[7]
    gaps = np.diff([i for i, k in enumerate(keys) if k])
    assert max(gaps) <= 20  # at most 2 s (20 frames at 10 fps) between keyframes


def test_h264_packets_decode():
    cam = SyntheticCamera("central", 160, 120)
    enc = VideoEncoder("h264", bitrate=200_000, fps=30)
    dec = av.CodecContext.create("h264", "r")
    frames = []
    for i in range(5):
        out = enc.encode(cam.make_video_frame(i), keyframe=(i == 0))
        if out:
            for p in out.packets:
                frames += dec.decode(av.Packet(bytes(p)))
    assert frames and (frames[0].width, frames[0].height) == (160, 120)


def test_opus_packets_carry_40_ms_and_decode_whole():
    """OPUS_FRAME_MS: one packet per 40 ms, timestamps 1,920 apart on the 48 kHz clock, each
    decoding to 1,920 samples of the tone (libopus, as every receiver decodes it)."""
    from broadcast.encoding import OPUS_FRAME_MS, OpusEncoder

    assert OPUS_FRAME_MS == 40
    cam = SyntheticCamera("central")
    enc = OpusEncoder()
    out = []
    for i in range(50):  # one second of the camera's 20 ms frames
        out += enc.encode(cam.make_audio_frame(i), i * 960)
    assert 24 <= len(out) <= 25  # libopus keeps back its look-ahead
    stamps = [e.timestamp for e in out]
    assert all((b - a) & 0xFFFFFFFF == 1920 for a, b in zip(stamps, stamps[1:]))
    assert all(len(e.payloads) == 1 and e.keyframe for e in out)
    dec = av.CodecContext.create("libopus", "r")
    samples = [f.samples for e in out for f in dec.decode(av.Packet(e.payloads[0]))]
    assert samples == [1920] * len(out)

"""Small real videos made with PyAV, for tests and benchmarks (no fixtures on disk)."""

from __future__ import annotations

import random
import struct
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av


def _frames(width: int, height: int, count: int, seed: int) -> Iterator[av.VideoFrame]:
    """Moving noise over a changing tint: cheap to make at any size, and frames really differ."""
    rng = random.Random(seed)
    template = av.VideoFrame(width, height, "yuv420p")
    luma_size = template.planes[0].buffer_size
    chroma_size = template.planes[1].buffer_size
    noise = rng.randbytes(luma_size + width * count)
    for index in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        start = (index * width) % (len(noise) - luma_size + 1)
        frame.planes[0].update(noise[start : start + luma_size])
        frame.planes[1].update(bytes([(index * 7) % 256]) * chroma_size)
        frame.planes[2].update(bytes([255 - (index * 5) % 256]) * chroma_size)
        frame.pts = index
        yield frame


def make_mp4(
    width: int = 320,
    height: int = 180,
    seconds: float = 1.0,
    fps: int = 24,
    *,
    bit_rate: int | None = None,
    keyframe_seconds: float = 2.0,
    faststart: bool = False,
    seed: int = 0,
) -> bytes:
    """An H.264 MP4 of the given size and length. By default the index (moov) is at the end, as most
    encoders write it; `faststart` puts it first."""
    # faststart rewrites the file to move the index first, which needs a real (seekable, reopenable) file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        options = {"movflags": "faststart"} if faststart else {}
        with av.open(str(path), mode="w", format="mp4", options=options) as container:
            stream = container.add_stream(
                "libx264",
                rate=fps,
                options={"preset": "ultrafast", "g": str(max(1, round(keyframe_seconds * fps)))},
            )
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, fps)
            if bit_rate is not None:
                stream.bit_rate = bit_rate
            for frame in _frames(width, height, max(1, round(seconds * fps)), seed):
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path.read_bytes()


def padded_mp4(video: bytes, extra: int) -> bytes:
    """`video` grown by `extra` bytes of a top-level `free` box: still the same playable MP4 (players skip
    free boxes), at whatever size a test needs, without encoding more frames."""
    return video + struct.pack(">I", 8 + extra) + b"free" + bytes(extra)

"""A real short H.264 MP4 showing the prompt (PyAV + Pillow); tiny ones render in a few milliseconds."""

from __future__ import annotations

import io
import textwrap
from fractions import Fraction

import av
from PIL import Image, ImageDraw, ImageFont


def _frame_background(width: int, height: int, prompt: str) -> Image.Image:
    image = Image.new("RGB", (width, height), (24, 28, 40))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, height // 12))
    lines = textwrap.wrap(prompt or "(image only)", width=max(10, width // max(6, height // 20)))[:4]
    y = height // 6
    for line in lines:
        draw.text((width // 20, y), line, fill=(235, 235, 235), font=font)
        y += height // 8
    return image


def render_mp4(
    prompt: str, *, seconds: float = 2.0, width: int = 320, height: int = 180, fps: int = 12
) -> bytes:
    """An MP4 (H.264, yuv420p) of `seconds` with the prompt written on it and a bar that moves across."""
    width, height = width - width % 2, height - height % 2  # yuv420p needs even sizes
    background = _frame_background(width, height, prompt)
    frames = max(1, round(seconds * fps))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "tune": "stillimage"}
        for index in range(frames):
            image = background.copy()
            x = int((width - width // 8) * index / max(1, frames - 1))
            ImageDraw.Draw(image).rectangle(
                (x, height - height // 8, x + width // 8, height - height // 16), fill=(90, 160, 255)
            )
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()

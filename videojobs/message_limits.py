"""Sizes every service must agree on for videos passed inside gRPC messages.

A provider may return a video in its answer instead of at a URI (the Gemini API may). It travels
provider_service -> job_service -> storage_service as bytes, so those three links accept messages of up to
`GRPC_MAX_MESSAGE_BYTES`; every other link keeps gRPC's 4 MiB default. 32 MiB holds an 8 s 1080p Veo video
several times over; a bigger inline video is refused (and the next provider tried) rather than raising the
limit, since each one in flight is held in memory by all three services.
"""

from __future__ import annotations

from videojobs.contract import INLINE_VIDEO_MAX_BYTES

# The video plus the rest of its message (state, headers, a destination key): a generous fixed margin.
GRPC_MAX_MESSAGE_BYTES = INLINE_VIDEO_MAX_BYTES + 1024 * 1024


def message_size_options(max_bytes: int | None) -> tuple[tuple[str, int], ...]:
    """gRPC channel/server options for messages up to `max_bytes` both ways (none: gRPC's defaults)."""
    if max_bytes is None:
        return ()
    return (("grpc.max_send_message_length", max_bytes), ("grpc.max_receive_message_length", max_bytes))

"""ProbeVideo and CreateThumbnail: PyAV over ranged reads of the stored object.

PyAV reads through the client's file-like `BlobReader`, which fetches `read_chunk_bytes` ranges on demand
and follows seeks, so probing reads the container header and one frame, and a thumbnail reads the index
and one group of pictures, never the whole file. Reads are pinned to the generation that was probed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import av
import av.error
from google.cloud import storage
from PIL import Image

from storage_service.domain import ObjectRef, StoredObject, VideoInfo
from storage_service.gcs import Gcs, domain_error, stored, write_once
from videojobs import errors
from videojobs.contract import Reason

DEFAULT_THUMBNAIL_SECONDS = 1.0
TIMEOUT_REASON = "MEDIA_TIMEOUT"


def check_deadline(expires: float) -> None:
    """Raised in the decoding thread once the call's time is up, so it stops even though nobody waits."""
    if time.monotonic() >= expires:
        raise errors.DeadlineExceeded("the video was not read in time", reason=TIMEOUT_REASON)


class _Source(io.RawIOBase):
    """The BlobReader as PyAV sees it; remembers a storage failure so it is not mistaken for bad data."""

    def __init__(self, reader: storage.fileio.BlobReader, expires: float) -> None:
        self._reader = reader
        self._expires = expires
        self.failure: BaseException | None = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            check_deadline(self._expires)
            data: bytes = self._reader.read(size)
        except Exception as exc:
            self.failure = exc
            raise
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            check_deadline(self._expires)
            return int(self._reader.seek(offset, whence))
        except Exception as exc:
            self.failure = exc
            raise

    def tell(self) -> int:
        return int(self._reader.tell())


@dataclass
class _Opened:
    blob: storage.Blob
    source: _Source
    container: Any
    stream: Any

    @property
    def duration(self) -> float:
        if self.container.duration:
            return float(self.container.duration / av.time_base)
        if self.stream.duration and self.stream.time_base:
            return float(self.stream.duration * self.stream.time_base)
        return 0.0


def not_a_video(ref: ObjectRef, why: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(f"{ref.uri} is not a decodable video: {why}", reason=Reason.NOT_A_VIDEO)


class _Video:
    """Context manager: the stored object opened with PyAV, its first video stream chosen."""

    def __init__(self, gcs: Gcs, ref: ObjectRef, expires: float) -> None:
        self._gcs = gcs
        self._ref = ref
        self.expires = expires
        self._opened: _Opened | None = None

    def __enter__(self) -> _Opened:
        blob = self._gcs.get(self._ref)
        if blob is None:
            raise errors.NotFound(f"{self._ref.uri} does not exist", reason="OBJECT_NOT_FOUND")
        reader = blob.open(
            "rb",
            chunk_size=self._gcs.settings.read_chunk_bytes,
            if_generation_match=blob.generation,
            timeout=self._gcs.timeout,
            retry=self._gcs.retry,
        )
        source = _Source(reader, self.expires)
        try:
            container = av.open(source, mode="r")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise self.failure(source, str(exc)) from exc
        streams = container.streams.video
        if not streams:
            container.close()
            raise not_a_video(self._ref, "no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"
        self._opened = _Opened(blob, source, container, stream)
        return self._opened

    def failure(self, source: _Source, why: str) -> errors.ServiceError:
        """A storage failure during decoding is reported as such, not as bad data."""
        if source.failure is not None:
            return domain_error(source.failure)
        return not_a_video(self._ref, why)

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.container.close()


def _first_frame_at(video: _Opened, ref: ObjectRef, at: float, guard: _Video) -> Any:
    """The first frame shown at or after `at` seconds (seeking to the keyframe before it, then decoding)."""
    stream = video.stream
    try:
        if at > 0 and stream.time_base:
            video.container.seek(int(at / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in video.container.decode(stream):
            check_deadline(guard.expires)
            last = frame
            if frame.time is None or frame.time + 1e-3 >= at:
                return frame
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise guard.failure(video.source, str(exc)) from exc
    if last is None:
        raise not_a_video(ref, "no frame could be decoded")
    return last


def _opening_frames(video: _Opened, ref: ObjectRef, count: int, guard: _Video) -> list[Any]:
    """Up to `count` frames decoded from the start."""
    frames: list[Any] = []
    try:
        for frame in video.container.decode(video.stream):
            check_deadline(guard.expires)
            frames.append(frame)
            if len(frames) >= count:
                break
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise guard.failure(video.source, str(exc)) from exc
    return frames


def probe_sync(gcs: Gcs, ref: ObjectRef, expires: float) -> VideoInfo:
    """Blocking; run through `Gcs.run`. Decodes frames so "a video" is checked, not assumed: a video stream
    with a positive duration and at least two frames (a JPEG or PNG probes as a one-frame image stream)."""
    guard = _Video(gcs, ref, expires)
    with guard as video:
        frames = _opening_frames(video, ref, 2, guard)
        if not frames:
            raise not_a_video(ref, "no frame could be decoded")
        if len(frames) < 2:
            raise not_a_video(ref, f"a single {video.stream.codec_context.name} picture, not a moving video")
        if video.duration <= 0:
            raise not_a_video(ref, "it has no duration")
        frame = frames[0]
        context = video.stream.codec_context
        return VideoInfo(
            duration_seconds=round(video.duration, 3),
            width=int(context.width or frame.width),
            height=int(context.height or frame.height),
            codec=str(context.name),
            size_bytes=int(video.blob.size or 0),
            content_type=video.blob.content_type or "",
        )


def thumbnail_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Scale down to `max_width`, keeping the aspect ratio; never scale up."""
    target = min(max_width, width)
    return target, max(1, round(height * target / width))


def thumbnail_sync(
    gcs: Gcs, video_ref: ObjectRef, dest: ObjectRef, at_seconds: float | None, max_width: int, expires: float
) -> StoredObject:
    """Blocking; run through `Gcs.run`. Idempotent: an existing destination is returned, not rewritten."""
    existing = gcs.get(dest)
    if existing is not None:
        return stored(existing, reused=True)
    guard = _Video(gcs, video_ref, expires)
    with guard as video:
        duration = video.duration
        if at_seconds is None:
            at_seconds = (
                DEFAULT_THUMBNAIL_SECONDS if duration >= 2 * DEFAULT_THUMBNAIL_SECONDS else duration / 2
            )
        elif duration and at_seconds > duration:
            raise errors.InvalidArgument.field(
                "at_seconds", f"{at_seconds} s is past the end of the video ({duration:.3f} s)"
            )
        frame = _first_frame_at(video, video_ref, at_seconds, guard)
        width, height = thumbnail_size(frame.width, frame.height, max_width)
        image: Image.Image = frame.reformat(width=width, height=height, format="rgb24").to_image()
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=gcs.settings.thumbnail_jpeg_quality, optimize=True)
    return write_once(gcs, dest, jpeg.getvalue(), "image/jpeg")

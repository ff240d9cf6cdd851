"""ProbeVideo and CreateThumbnail on real MP4s made with PyAV, read through ranged reads."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import pytest
from google.cloud import storage
from PIL import Image

from tests.support.grpc_client import failure
from tests.support.storage import AUTH, Put, StartStorageService, start_slow_storage, uri
from tests.support.videos import make_mp4
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import GcsEmulator

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub

PutVideo = Callable[[str, bytes], str]


@pytest.fixture
def put_video(put: Put, gcs_bucket: storage.Bucket) -> PutVideo:
    """put_video(name, data) writes videos/u/<name> into the test bucket and gives its gs:// URI, the way
    ProbeVideo and CreateThumbnail take it."""

    def write(name: str, data: bytes) -> str:
        return uri(gcs_bucket, put(f"videos/u/{name}", data).name)

    return write


@pytest.mark.parametrize(
    ("width", "height", "seconds", "fps", "faststart"),
    [
        (160, 90, 0.5, 12, False),
        (320, 180, 2.0, 24, True),
        (256, 144, 12.0, 10, False),
        (90, 160, 1.0, 15, False),
    ],
)
async def test_probe_reports_the_real_video(
    storage_stub: Stub,
    put_video: PutVideo,
    width: int,
    height: int,
    seconds: float,
    fps: int,
    faststart: bool,
) -> None:
    data = make_mp4(width, height, seconds, fps, faststart=faststart)
    video = put_video("v.mp4", data)
    info = await storage_stub.ProbeVideo(pb.ProbeVideoRequest(uri=video), metadata=AUTH)
    assert (info.width, info.height, info.codec) == (width, height, "h264")
    assert info.duration_seconds == pytest.approx(seconds, abs=1.5 / fps)
    assert info.size_bytes == len(data)
    assert info.content_type == "video/mp4"


@pytest.mark.parametrize(
    "content", [b"this is a text file, renamed\n" * 40, b"", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500]
)
async def test_probing_or_thumbnailing_a_non_video_is_refused(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put_video: PutVideo, content: bytes
) -> None:
    video = put_video("fake.mp4", content)
    for call in (
        storage_stub.ProbeVideo(pb.ProbeVideoRequest(uri=video), metadata=AUTH),
        storage_stub.CreateThumbnail(
            pb.CreateThumbnailRequest(video_uri=video, destination_key="thumbnails/u/f.jpg"), metadata=AUTH
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert failure(caught.value).reason == "NOT_A_VIDEO"
    assert gcs_bucket.get_blob("thumbnails/u/f.jpg") is None


async def test_probing_a_missing_object_is_not_found(storage_stub: Stub, gcs_bucket: storage.Bucket) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.ProbeVideo(
            pb.ProbeVideoRequest(uri=uri(gcs_bucket, "videos/u/none.mp4")), metadata=AUTH
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("width", "height", "seconds", "max_width", "expected"),
    [
        (320, 180, 2.0, 160, (160, 90)),
        (320, 180, 0.6, 0, (320, 180)),  # default 640 never scales up
        (256, 144, 8.0, 100, (100, 56)),
        (90, 160, 1.0, 45, (45, 80)),
    ],
)
async def test_thumbnail_is_a_jpeg_of_the_requested_width(
    storage_stub: Stub,
    gcs_bucket: storage.Bucket,
    put_video: PutVideo,
    width: int,
    height: int,
    seconds: float,
    max_width: int,
    expected: tuple[int, int],
) -> None:
    video = put_video("j.mp4", make_mp4(width, height, seconds, 12))
    request = pb.CreateThumbnailRequest(
        video_uri=video, destination_key="thumbnails/u/j.jpg", max_width=max_width
    )
    first = await storage_stub.CreateThumbnail(request, metadata=AUTH)
    second = await storage_stub.CreateThumbnail(request, metadata=AUTH)
    assert (first.reused, second.reused) == (False, True)
    assert first.generation == second.generation
    assert first.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(gcs_bucket.blob("thumbnails/u/j.jpg").download_as_bytes()))
    assert image.format == "JPEG"
    assert image.size == expected


async def test_thumbnails_differ_over_time_and_a_time_past_the_end_is_refused(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put_video: PutVideo
) -> None:
    video = put_video("long.mp4", make_mp4(160, 90, 4.0, 10))
    at_three = await storage_stub.CreateThumbnail(
        pb.CreateThumbnailRequest(
            video_uri=video,
            destination_key="thumbnails/u/3.jpg",
            at_seconds=3.0,
        ),
        metadata=AUTH,
    )
    at_one = await storage_stub.CreateThumbnail(
        pb.CreateThumbnailRequest(video_uri=video, destination_key="thumbnails/u/1.jpg"),
        metadata=AUTH,
    )
    # Frames differ over time (moving content), so the two thumbnails differ too.
    assert at_three.crc32c != at_one.crc32c
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.CreateThumbnail(
            pb.CreateThumbnailRequest(
                video_uri=video,
                destination_key="thumbnails/u/9.jpg",
                at_seconds=9.0,
            ),
            metadata=AUTH,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert gcs_bucket.get_blob("thumbnails/u/9.jpg") is None


async def test_probe_and_thumbnail_stop_at_the_deadline(
    start_storage_service: StartStorageService,
    gcs_emulator: GcsEmulator,
    gcs_bucket: storage.Bucket,
    put_video: PutVideo,
) -> None:
    video = put_video("slow.mp4", make_mp4(160, 90, 4.0, 10))
    slow = start_slow_storage(gcs_emulator.url, delay=0.4)
    try:
        service = await start_storage_service(
            storage_emulator_host=slow.url, media_timeout_seconds=1.0, read_chunk_bytes=16 * 1024
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = storage_service_pb2_grpc.StorageServiceStub(channel)
            for call in (
                stub.ProbeVideo(pb.ProbeVideoRequest(uri=video), metadata=AUTH),
                stub.CreateThumbnail(
                    pb.CreateThumbnailRequest(video_uri=video, destination_key="thumbnails/u/slow.jpg"),
                    metadata=AUTH,
                ),
            ):
                started = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                # Every read answers within the per-read timeout; only the deadline ends the call.
                assert time.monotonic() - started < 1.0 + 0.3
                assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert failure(caught.value).reason == "MEDIA_TIMEOUT"
                # The decoding thread stops at its next read instead of reading on for nobody.
                reads = len(slow.downloads)
                await asyncio.sleep(1.0)
                assert len(slow.downloads) == reads
    finally:
        slow.stop()
    assert gcs_bucket.get_blob("thumbnails/u/slow.jpg") is None


def _jpeg(width: int = 320, height: int = 180) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("still.jpg", _jpeg()),  # probes as codec mjpeg, no duration
        ("still.png", _png()),
        ("one-frame.mp4", make_mp4(160, 90, seconds=1 / 24, fps=24)),  # a video stream, one frame
    ],
)
async def test_a_still_image_is_not_a_video(
    storage_stub: Stub, put_video: PutVideo, name: str, content: bytes
) -> None:
    """A video has a video stream with a positive duration and at least two frames."""
    video = put_video(name, content)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.ProbeVideo(pb.ProbeVideoRequest(uri=video), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert failure(caught.value).reason == "NOT_A_VIDEO"


async def test_two_frames_are_a_video(storage_stub: Stub, put_video: PutVideo) -> None:
    video = put_video("two.mp4", make_mp4(160, 90, seconds=2 / 24, fps=24))
    info = await storage_stub.ProbeVideo(pb.ProbeVideoRequest(uri=video), metadata=AUTH)
    assert info.duration_seconds > 0
    assert info.codec == "h264"

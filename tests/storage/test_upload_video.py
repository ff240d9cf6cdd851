"""UploadVideo: a provider's inline video stored once at its key, checked to be a video."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.cloud import storage

from tests.support.grpc_client import failure
from tests.support.storage import AUTH, uri
from tests.support.videos import make_mp4, padded_mp4
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub

VIDEO = make_mp4(160, 90, seconds=0.5, fps=12)


async def test_a_video_is_stored_once(storage_stub: Stub, gcs_bucket: storage.Bucket) -> None:
    request = pb.UploadVideoRequest(
        destination_key="incoming/j1/inline.mp4", data=VIDEO, content_type="video/mp4"
    )
    first = await storage_stub.UploadVideo(request, metadata=AUTH)
    second = await storage_stub.UploadVideo(request, metadata=AUTH)

    assert (first.uri, first.size_bytes, first.content_type) == (
        uri(gcs_bucket, "incoming/j1/inline.mp4"),
        len(VIDEO),
        "video/mp4",
    )
    assert (first.reused, second.reused) == (False, True)
    assert second.generation == first.generation
    assert gcs_bucket.blob("incoming/j1/inline.mp4").download_as_bytes() == VIDEO
    info = await storage_stub.ProbeVideo(pb.ProbeVideoRequest(uri=first.uri), metadata=AUTH)
    assert info.codec == "h264"


async def test_an_unlabelled_video_is_sniffed(storage_stub: Stub) -> None:
    stored = await storage_stub.UploadVideo(
        pb.UploadVideoRequest(destination_key="incoming/j2/inline.mp4", data=VIDEO), metadata=AUTH
    )
    assert stored.content_type == "video/mp4"


async def test_a_video_over_grpcs_default_message_size_is_taken(
    storage_stub: Stub, gcs_bucket: storage.Bucket
) -> None:
    big = padded_mp4(VIDEO, 5 * 1024 * 1024)
    stored = await storage_stub.UploadVideo(
        pb.UploadVideoRequest(destination_key="incoming/j3/inline.mp4", data=big, content_type="video/mp4"),
        metadata=AUTH,
    )
    assert stored.size_bytes == len(big)


@pytest.mark.parametrize(
    ("key", "data", "content_type", "code", "reason"),
    [
        ("incoming/j/a.mp4", b"", "video/mp4", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ("../escape.mp4", VIDEO, "video/mp4", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            "incoming/j/a.mp4",
            b"<html>an error page</html>",
            "text/html",
            grpc.StatusCode.FAILED_PRECONDITION,
            "NOT_A_VIDEO",
        ),
        (
            "incoming/j/a.mp4",
            b"<html>an error page</html>",
            "",
            grpc.StatusCode.FAILED_PRECONDITION,
            "NOT_A_VIDEO",
        ),
    ],
)
async def test_refusals_write_nothing(
    storage_stub: Stub,
    gcs_bucket: storage.Bucket,
    key: str,
    data: bytes,
    content_type: str,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.UploadVideo(
            pb.UploadVideoRequest(destination_key=key, data=data, content_type=content_type), metadata=AUTH
        )
    assert caught.value.code() == code
    assert failure(caught.value).reason == reason
    assert list(gcs_bucket.list_blobs()) == []

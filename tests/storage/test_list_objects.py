"""ListObjects pages through the bucket under a prefix, in name order, with tokens bound to the prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.cloud import storage
from google.rpc import error_details_pb2

from tests.support.grpc_client import failure
from tests.support.storage import AUTH, Put, uri
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub


async def list_all(stub: Stub, prefix: str, page_size: int) -> list[list[str]]:
    """Every page's names, following the tokens."""
    pages: list[list[str]] = []
    token = ""
    while True:
        reply = await stub.ListObjects(
            pb.ListObjectsRequest(prefix=prefix, page_size=page_size, page_token=token), metadata=AUTH
        )
        pages.append([obj.name for obj in reply.objects])
        token = reply.next_page_token
        if not token:
            return pages


async def test_pages_follow_each_other_under_the_prefix(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    names = [f"incoming/job{i}/sample_0.mp4" for i in range(5)]
    for name in [*names, "videos/u/a.mp4"]:
        put(name, b"x")

    assert await list_all(storage_stub, "incoming/", 2) == [names[0:2], names[2:4], names[4:5]]
    assert await list_all(storage_stub, "", 0) == [sorted([*names, "videos/u/a.mp4"])]
    assert await list_all(storage_stub, "thumbnails/", 10) == [[]]


async def test_objects_carry_uri_size_type_and_time(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    blob = put("videos/u/a.mp4", b"12345")
    reply = await storage_stub.ListObjects(pb.ListObjectsRequest(prefix="videos/"), metadata=AUTH)
    [listed] = reply.objects
    assert (listed.uri, listed.name, listed.size_bytes, listed.content_type) == (
        uri(gcs_bucket, "videos/u/a.mp4"),
        "videos/u/a.mp4",
        5,
        "video/mp4",
    )
    assert blob.updated is not None
    assert abs((listed.update_time.ToDatetime() - blob.updated.replace(tzinfo=None)).total_seconds()) < 1


async def test_a_token_is_refused_under_another_prefix(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    for i in range(3):
        put(f"incoming/j{i}/a.mp4", b"x")
    first = await storage_stub.ListObjects(
        pb.ListObjectsRequest(prefix="incoming/", page_size=1), metadata=AUTH
    )
    assert first.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.ListObjects(
            pb.ListObjectsRequest(prefix="videos/", page_size=1, page_token=first.next_page_token),
            metadata=AUTH,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = failure(caught.value).detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["page_token"]

"""ResolveOutput on Veo's real output layouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.cloud import storage

from tests.support.storage import AUTH, Put, uri
from tests.support.videos import make_mp4
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub

VIDEO = make_mp4(160, 90, 0.5, 12)


async def resolve(stub: Stub, bucket: storage.Bucket, prefix: str, *reported: str) -> pb.StoredObject:
    """ResolveOutput for a job's output prefix and the object names its provider reported, if any."""
    request = pb.ResolveOutputRequest(
        uris=[uri(bucket, name) for name in reported], prefix=uri(bucket, prefix)
    )
    return await stub.ResolveOutput(request, metadata=AUTH)


async def test_returned_uri_wins_when_it_exists(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j1/123/sample_0.mp4", VIDEO)
    put("incoming/j1/other.mp4", VIDEO)
    found = await resolve(storage_stub, gcs_bucket, "incoming/j1", "incoming/j1/123/sample_0.mp4")
    assert found.uri == uri(gcs_bucket, "incoming/j1/123/sample_0.mp4")
    assert found.size_bytes == len(VIDEO)
    assert found.generation > 0
    assert list(found.other_candidates) == []


async def test_a_missing_reported_uri_is_found_in_veos_subdirectory_layout(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j2/16834020155/sample_0.mp4", VIDEO)
    # The URI Veo reported does not exist (the seed's mismatch); the prefix search finds the real file.
    found = await resolve(storage_stub, gcs_bucket, "incoming/j2/", "incoming/j2/op-1.mp4")
    assert found.uri == uri(gcs_bucket, "incoming/j2/16834020155/sample_0.mp4")


async def test_the_operation_named_file_layout_is_found_and_the_json_beside_it_ignored(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j3/operations-abc123.mp4", VIDEO)
    put("incoming/j3/operations-abc123.json", b"{}", content_type="application/json")
    found = await resolve(storage_stub, gcs_bucket, "incoming/j3")
    assert found.uri == uri(gcs_bucket, "incoming/j3/operations-abc123.mp4")


async def test_several_samples_pick_the_lowest_index_and_report_the_rest(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j4/a/sample_2.mp4", VIDEO)
    put("incoming/j4/a/sample_0.mp4", VIDEO)
    put("incoming/j4/b/sample_1.mp4", VIDEO)
    put("incoming/j4/stray.mp4", VIDEO)
    found = await resolve(storage_stub, gcs_bucket, "incoming/j4")
    assert found.uri == uri(gcs_bucket, "incoming/j4/a/sample_0.mp4")
    assert list(found.other_candidates) == [
        uri(gcs_bucket, "incoming/j4/b/sample_1.mp4"),
        uri(gcs_bucket, "incoming/j4/a/sample_2.mp4"),
    ]


async def test_only_the_jobs_own_prefix_is_searched(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j50/x/sample_0.mp4", VIDEO)  # another job whose id starts the same way
    put("incoming/j5/notes.txt", b"hi", content_type="text/plain")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolve(storage_stub, gcs_bucket, "incoming/j5", "incoming/j5/op.mp4")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    details = caught.value.details() or ""
    assert uri(gcs_bucket, "incoming/j5/op.mp4") in details
    assert uri(gcs_bucket, "incoming/j5/") in details
    assert "1 objects, no .mp4" in details


async def test_prefix_in_another_bucket_is_invalid(storage_stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_stub.ResolveOutput(
            pb.ResolveOutputRequest(prefix="gs://someone-else/incoming/j"), metadata=AUTH
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

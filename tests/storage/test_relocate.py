"""Relocate against the real emulator and a local http(s) source: copy, stream, idempotency."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import trustme
from google.cloud import storage

from tests.support.grpc_client import failure
from tests.support.storage import (
    AUTH,
    Put,
    Route,
    StartStorageService,
    fetching_from,
    iter_chunks,
    start_source_server,
    static_resolver,
    stub_of,
    uri,
)
from tests.support.tls import server_tls
from tests.support.videos import make_mp4
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub
VIDEO = make_mp4(160, 90, 1.0, 12)


def in_bucket(bucket: storage.Bucket, source: str, destination_key: str, **fields: Any) -> pb.RelocateRequest:
    """A RelocateRequest for an object already in our bucket (where Vertex writes its outputs)."""
    return pb.RelocateRequest(source_uri=uri(bucket, source), destination_key=destination_key, **fields)


async def relocate_from(
    start: StartStorageService, route: Route, destination_key: str, **settings: Any
) -> pb.StoredObject:
    """Relocate what a local http source answers with `route`, through a service started with `settings`."""
    async with fetching_from(start, {"/v": route}, **settings) as (source, stub):
        request = pb.RelocateRequest(source_uri=source.url("/v"), destination_key=destination_key)
        return await stub.Relocate(request, metadata=AUTH)


async def test_gs_source_is_copied_then_reused(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    source = put("incoming/job1/op/sample_0.mp4", VIDEO)
    request = in_bucket(gcs_bucket, source.name, "videos/u1/job1.mp4")

    first = await storage_stub.Relocate(request, metadata=AUTH)
    second = await storage_stub.Relocate(request, metadata=AUTH)

    assert first.uri == uri(gcs_bucket, "videos/u1/job1.mp4")
    assert (first.reused, second.reused) == (False, True)
    assert first.generation == second.generation
    assert first.size_bytes == len(VIDEO)
    assert first.content_type == "video/mp4"
    assert first.crc32c == source.crc32c
    assert gcs_bucket.blob("videos/u1/job1.mp4").download_as_bytes() == VIDEO
    assert gcs_bucket.get_blob(source.name) is not None  # delete_source was not asked for


async def test_delete_source_after_confirmed_copy_and_on_retry(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/job2/a/sample_0.mp4", VIDEO)
    request = in_bucket(gcs_bucket, "incoming/job2/a/sample_0.mp4", "videos/u1/job2.mp4", delete_source=True)
    result = await storage_stub.Relocate(request, metadata=AUTH)
    assert not result.reused
    assert gcs_bucket.get_blob("incoming/job2/a/sample_0.mp4") is None
    assert gcs_bucket.blob("videos/u1/job2.mp4").download_as_bytes() == VIDEO
    # A retry after the source is gone still answers with the stored object.
    again = await storage_stub.Relocate(request, metadata=AUTH)
    assert again.reused
    assert again.generation == result.generation


async def test_source_kept_when_destination_holds_other_bytes(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("videos/u1/job3.mp4", make_mp4(160, 90, 1.0, 12, seed=1))
    put("incoming/job3/sample_0.mp4", VIDEO)
    request = in_bucket(gcs_bucket, "incoming/job3/sample_0.mp4", "videos/u1/job3.mp4", delete_source=True)
    result = await storage_stub.Relocate(request, metadata=AUTH)
    assert result.reused
    assert gcs_bucket.get_blob("incoming/job3/sample_0.mp4") is not None


async def test_twenty_concurrent_calls_write_one_generation(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/job4/sample_0.mp4", VIDEO)
    request = in_bucket(gcs_bucket, "incoming/job4/sample_0.mp4", "videos/u1/job4.mp4")
    results = await asyncio.gather(*(storage_stub.Relocate(request, metadata=AUTH) for _ in range(20)))
    assert len({r.generation for r in results}) == 1
    assert sorted(r.reused for r in results) == [False] + [True] * 19
    assert results[0].generation == gcs_bucket.get_blob("videos/u1/job4.mp4").generation


async def test_https_source_streams_over_tls_and_twenty_concurrent_calls_reuse(
    start_storage_service: StartStorageService,
    gcs_bucket: storage.Bucket,
    certificate_authority: trustme.CA,
    ca_file: Path,
) -> None:
    body = VIDEO * 40  # ~1 MiB over several upload chunks
    source = start_source_server(
        {"/out.mp4": Route(200, {"Content-Type": "video/mp4"}, lambda: iter_chunks_of(body))},
        tls=server_tls(certificate_authority, "videos.provider.test"),
    )
    try:
        service = await start_storage_service(
            fetch_ca_file=ca_file,
            fetch_allow_local=True,  # the source listens on loopback; TLS is still verified by name
            upload_chunk_bytes=256 * 1024,
            resolver=static_resolver({"videos.provider.test": ["127.0.0.1"]}),
        )
        async with stub_of(service) as stub:
            request = pb.RelocateRequest(
                source_uri=source.url("/out.mp4", host="videos.provider.test"),
                destination_key="videos/u1/job5.mp4",
                source_headers={"x-goog-api-key": "secret-key"},
            )
            results = await asyncio.gather(*(stub.Relocate(request, metadata=AUTH) for _ in range(20)))
    finally:
        source.stop()
    assert len({r.generation for r in results}) == 1
    assert sorted(r.reused for r in results) == [False] + [True] * 19
    stored = gcs_bucket.get_blob("videos/u1/job5.mp4")
    assert stored.generation == results[0].generation
    assert stored.content_type == "video/mp4"
    assert stored.download_as_bytes() == body
    assert len(source.seen) == 1  # the 19 others found the object and fetched nothing
    _path, headers = source.seen[0]
    assert headers["host"] == f"videos.provider.test:{source.port}"
    assert headers["x-goog-api-key"] == "secret-key"


def iter_chunks_of(body: bytes, size: int = 100_000) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def test_http_source_with_development_setting_and_octet_stream_sniffing(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket
) -> None:
    route = Route(200, {"Content-Type": "application/octet-stream"}, VIDEO)
    result = await relocate_from(start_storage_service, route, "videos/u1/job6.mp4")
    assert result.content_type == "video/mp4"
    assert result.size_bytes == len(VIDEO)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(200, {"Content-Type": "text/html"}, b"<html>login</html>"), "NOT_A_VIDEO"),
        (Route(200, {"Content-Type": "video/mp4"}, b""), "NOT_A_VIDEO"),
        (Route(404, {"Content-Type": "text/plain"}, b"gone"), "SOURCE_NOT_FOUND"),
        (Route(503, {"Retry-After": "7"}, b"busy"), "SOURCE_UNAVAILABLE"),
        (Route(403, {}, b"no"), "SOURCE_REJECTED"),
        (Route(200, {"Content-Type": "video/mp4"}, lambda: iter_chunks(3 * 1024 * 1024)), "SOURCE_TOO_LARGE"),
        (
            Route(
                200,
                {"Content-Type": "video/mp4", "Content-Length": str(3 * 1024**2)},
                lambda: iter_chunks(3 * 1024**2),
            ),
            "SOURCE_TOO_LARGE",
        ),
    ],
)
async def test_bad_sources_write_nothing(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket, route: Route, reason: str
) -> None:
    limits = {"max_object_bytes": 2 * 1024 * 1024, "upload_chunk_bytes": 256 * 1024}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await relocate_from(start_storage_service, route, "videos/u1/bad.mp4", **limits)
    refused = failure(caught.value)
    assert refused.reason == reason
    assert gcs_bucket.get_blob("videos/u1/bad.mp4") is None
    if reason == "SOURCE_UNAVAILABLE":
        assert (refused.code, refused.retry_seconds) == (grpc.StatusCode.UNAVAILABLE, 7)


@pytest.mark.parametrize("size", [10, 256 * 1024, 512 * 1024, 512 * 1024 + 1])
async def test_https_sizes_around_the_chunk_boundary(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket, size: int
) -> None:
    body = (VIDEO * (size // len(VIDEO) + 1))[:size]
    route = Route(200, {"Content-Type": "video/mp4"}, body)
    result = await relocate_from(
        start_storage_service, route, "videos/u1/edge.mp4", upload_chunk_bytes=256 * 1024
    )
    assert result.size_bytes == size
    assert gcs_bucket.blob("videos/u1/edge.mp4").download_as_bytes() == body


async def test_source_dropping_mid_download_is_unavailable_and_writes_nothing(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket
) -> None:
    size = 2 * 1024 * 1024
    route = Route(
        200,
        {"Content-Type": "video/mp4", "Content-Length": str(size)},
        lambda: iter_chunks(size),
        drop_after=700 * 1024,  # past two 256 KiB chunks already sent to the upload
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await relocate_from(start_storage_service, route, "videos/u1/cut.mp4", upload_chunk_bytes=256 * 1024)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert failure(caught.value).reason == "SOURCE_UNAVAILABLE"
    assert gcs_bucket.get_blob("videos/u1/cut.mp4") is None


async def test_gs_source_that_is_not_a_video_or_missing(
    storage_stub: Stub, gcs_bucket: storage.Bucket, put: Put
) -> None:
    put("incoming/j/readme.txt", b"hello", content_type="text/plain")
    cases = [
        ("incoming/j/readme.txt", grpc.StatusCode.FAILED_PRECONDITION),
        ("incoming/j/none.mp4", grpc.StatusCode.NOT_FOUND),
    ]
    for name, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await storage_stub.Relocate(in_bucket(gcs_bucket, name, "videos/u/x.mp4"), metadata=AUTH)
        assert caught.value.code() == code
    assert gcs_bucket.get_blob("videos/u/x.mp4") is None

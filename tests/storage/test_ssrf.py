"""Fetching https sources never reaches our own network: the SSRF table, through the real service."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from google.cloud import storage
from google.rpc import error_details_pb2

from tests.support.grpc_client import failure
from tests.support.storage import AUTH, Route, StartStorageService, fetching_from, static_resolver, stub_of
from videojobs import errors, safe_fetch
from videojobs.v1 import storage_service_pb2 as pb
from videojobs.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    Stub = storage_service_pb2_grpc.StorageServiceAsyncStub

RESOLVER = static_resolver(
    {
        "internal.provider.test": ["10.0.0.1"],
        "mixed.provider.test": ["93.184.216.34", "192.168.1.5"],
        "metadata.google.internal": ["169.254.169.254"],
    }
)


async def relocate_error(stub: Stub, source_uri: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Relocate(
            pb.RelocateRequest(source_uri=source_uri, destination_key="videos/u/ssrf.mp4"), metadata=AUTH
        )
    return caught.value


@pytest.mark.parametrize(
    ("source_uri", "why"),
    [
        ("http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token", "plain http"),
        ("https://169.254.169.254/computeMetadata/v1/", "link-local"),
        ("https://metadata.google.internal/computeMetadata/v1/", "link-local"),
        ("http://127.0.0.1/video.mp4", "plain http"),
        ("https://127.0.0.1:8443/video.mp4", "loopback"),
        ("http://[::1]/video.mp4", "plain http"),
        ("https://[::1]:8443/video.mp4", "loopback"),
        ("https://[::ffff:127.0.0.1]/video.mp4", "loopback"),
        ("https://0.0.0.0/video.mp4", "not a unicast"),
        ("https://internal.provider.test/video.mp4", "resolves to 10.0.0.1 is a private"),
        ("https://mixed.provider.test/video.mp4", "192.168.1.5 is a private"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.com/video.mp4", "scheme 'ftp'"),
        ("https://user:pw@example.com/video.mp4", "credentials in the URL"),
    ],
)
async def test_refused_targets_are_invalid_argument_and_write_nothing(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket, source_uri: str, why: str
) -> None:
    async with stub_of(await start_storage_service(resolver=RESOLVER)) as stub:
        error = await relocate_error(stub, source_uri)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = failure(error).detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    [violation] = bad_request.field_violations
    assert violation.field == "source_uri"
    assert why in violation.description
    assert failure(error).reason == "URL_NOT_ALLOWED"
    assert gcs_bucket.get_blob("videos/u/ssrf.mp4") is None


async def test_redirect_to_the_metadata_server_is_refused_even_in_development(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket
) -> None:
    routes = {"/v": Route(302, {"Location": "http://169.254.169.254/computeMetadata/v1/"}, b"")}
    async with fetching_from(start_storage_service, routes) as (source, stub):
        error = await relocate_error(stub, source.url("/v"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "169.254.169.254 is a link-local address" in (error.details() or "")
    assert [path for path, _ in source.seen] == ["/v"]


async def test_redirect_chain_is_followed_and_bounded(
    start_storage_service: StartStorageService, gcs_bucket: storage.Bucket
) -> None:
    routes = {f"/r{i}": Route(302, {"Location": f"/r{i + 1}"}, b"") for i in range(10)}
    async with fetching_from(start_storage_service, routes, fetch_max_redirects=3) as (source, stub):
        error = await relocate_error(stub, source.url("/r0"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(source.seen) == 4


# Small unit tests of the fetcher with an in-process transport: the public internet is not reachable here.

PUBLIC = "93.184.216.34"


def fetcher(handler: httpx.MockTransport, table: dict[str, list[str]]) -> safe_fetch.SafeFetcher:
    policy = safe_fetch.FetchPolicy()
    client = httpx.AsyncClient(transport=handler)
    return safe_fetch.SafeFetcher(policy, client, static_resolver(table), field="source_uri")


async def test_redirect_to_a_private_address_is_refused() -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(302, headers={"Location": "https://internal.provider.test/x.mp4"})

    safe = fetcher(
        httpx.MockTransport(answer),
        {"cdn.provider.test": [PUBLIC], "internal.provider.test": ["10.0.0.1"]},
    )
    with pytest.raises(errors.InvalidArgument) as caught:
        async with safe.open("https://cdn.provider.test/out.mp4", {}):
            pass
    assert "10.0.0.1 is a private" in caught.value.message
    assert len(asked) == 1


async def test_connects_to_the_checked_address_and_drops_headers_across_origins() -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if request.headers["host"] == "cdn.provider.test":
            return httpx.Response(302, headers={"Location": "https://files.provider.test/x.mp4"})
        return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=b"....ftyp")

    safe = fetcher(
        httpx.MockTransport(answer),
        {"cdn.provider.test": [PUBLIC], "files.provider.test": ["93.184.216.35"]},
    )
    async with safe.open("https://cdn.provider.test/out.mp4", {"x-goog-api-key": "k"}) as response:
        assert response.status_code == 200
    first, second = asked
    assert first.url.host == PUBLIC
    assert first.extensions["sni_hostname"] == "cdn.provider.test"
    assert first.headers["x-goog-api-key"] == "k"
    assert second.url.host == "93.184.216.35"
    assert "x-goog-api-key" not in second.headers


@pytest.mark.parametrize(
    ("address", "allowed_in_development"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.0.1", True),
        ("100.64.0.1", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("fd00::1", True),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:169.254.169.254", False),
        ("2002:a9fe:a9fe::1", False),  # 6to4 wrapping 169.254.169.254
    ],
)
def test_public_addresses_are_allowed_and_development_adds_private_and_loopback_ones(
    address: str, allowed_in_development: bool
) -> None:
    ip = ipaddress.ip_address(address)
    public = address in {"8.8.8.8", "2001:4860:4860::8888"}
    assert (safe_fetch.address_problem(ip, allow_local=False) is None) == public
    assert (safe_fetch.address_problem(ip, allow_local=True) is None) == allowed_in_development

"""storage_service for tests (a pytest plugin: tests/conftest.py loads its fixtures), plus a local http(s)
source server.

Fixtures:
- `start_storage_service(**settings overrides)`: starts one on loopback (port 0) against the GCS emulator
  and the per-test `gcs_bucket`; stopped at the end of the test.
- `storage_service`: one started with defaults; `storage_stub`: a StorageService stub on a real channel.
Also: `start_source_server` (a provider's http(s) output), `start_slow_storage` (the emulator, slowly).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.cloud import storage

from provider_service.local_http import LocalHttpServer, Request, Response
from storage_service.server import StorageService
from storage_service.settings import StorageServiceSettings
from tests.support.grpc_client import metadata
from tests.support.services import LOOPBACK, StorageStub, starting, storage_service_running, target
from videojobs.safe_fetch import Resolver
from videojobs.v1 import storage_service_pb2_grpc
from videojobs_cli.gcs_emulator import GcsEmulator

AUTH = metadata()  # how job_service calls storage_service: the internal token, no user
StartStorageService = Callable[..., Awaitable[StorageService]]
Put = Callable[..., storage.Blob]


def storage_settings(emulator_url: str, bucket: str, **overrides: Any) -> StorageServiceSettings:
    options: dict[str, Any] = {
        "storage_host": LOOPBACK,
        "storage_port": 0,
        "bucket": bucket,
        "storage_emulator_host": emulator_url,
        "gcs_timeout_seconds": 10.0,
        "gcs_retry_seconds": 5.0,
        "fetch_connect_timeout_seconds": 2.0,
        "fetch_read_timeout_seconds": 5.0,
        "io_threads": 8,
    }
    return StorageServiceSettings(**(options | overrides))


def uri(bucket: storage.Bucket, name: str) -> str:
    return f"gs://{bucket.name}/{name}"


@pytest.fixture
async def start_storage_service(
    gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> AsyncIterator[StartStorageService]:
    """start(resolver=None, **storage_settings overrides): a started StorageService, stopped afterwards."""

    def running(
        *, resolver: Resolver | None = None, **overrides: Any
    ) -> AbstractAsyncContextManager[StorageService]:
        settings = storage_settings(gcs_emulator.url, gcs_bucket.name, **overrides)
        return storage_service_running(settings, resolver=resolver)

    async with starting(running) as start:
        yield start


@pytest.fixture
async def storage_service(start_storage_service: StartStorageService) -> StorageService:
    return await start_storage_service()


@asynccontextmanager
async def stub_of(service: StorageService) -> AsyncIterator[StorageStub]:
    async with grpc.aio.insecure_channel(target(service.port)) as channel:
        yield storage_service_pb2_grpc.StorageServiceStub(channel)


@pytest.fixture
async def storage_stub(storage_service: StorageService) -> AsyncIterator[StorageStub]:
    async with stub_of(storage_service) as stub:
        yield stub


@pytest.fixture
def put(gcs_bucket: storage.Bucket) -> Put:
    """Write an object straight into the test bucket (as a provider would)."""

    def write(name: str, data: bytes, content_type: str = "video/mp4") -> storage.Blob:
        blob = gcs_bucket.blob(name)
        blob.upload_from_string(data, content_type=content_type)
        return blob

    return write


# A local source of provider outputs, and the emulator answering slowly: both on the one loopback HTTP server
# (provider_service.local_http), which can also drop a connection partway through a body.


@dataclass
class Route:
    """An answer made afresh for every request (`body` may be a factory of pieces to stream)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[], Iterable[bytes]] = b""
    # Close the connection once this many body bytes are sent (a source dying mid-download).
    drop_after: int | None = None

    def response(self) -> Response:
        body = self.body if isinstance(self.body, bytes) else self.body()
        return Response(self.status, body, dict(self.headers), self.drop_after)


NOT_FOUND = Route(404, {"Content-Type": "text/plain"}, b"not found")


@dataclass
class SourceServer:
    server: LocalHttpServer
    routes: dict[str, Route]
    seen: list[tuple[str, dict[str, str]]]  # (request target, lower-cased headers) of every request

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str, host: str = LOOPBACK) -> str:
        return f"{self.server.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.stop()


def start_source_server(
    routes: dict[str, Route], *, tls: ssl.SSLContext | None = None, host: str = LOOPBACK
) -> SourceServer:
    seen: list[tuple[str, dict[str, str]]] = []

    def answer(request: Request) -> Response:
        seen.append((request.target, request.headers))
        return routes.get(request.path, NOT_FOUND).response()

    return SourceServer(LocalHttpServer(answer, host=host, tls=tls).start(), routes, seen)


@asynccontextmanager
async def fetching_from(
    start: StartStorageService, routes: dict[str, Route], **settings: Any
) -> AsyncIterator[tuple[SourceServer, StorageStub]]:
    """A local source serving `routes` and a storage_service (started with `settings`, fetching from loopback
    allowed) to fetch from it, for the `async with` block: (source, stub)."""
    source = start_source_server(routes)
    try:
        async with stub_of(await start(fetch_allow_local=True, **settings)) as stub:
            yield source, stub
    finally:
        source.stop()


@dataclass
class SlowStorage:
    """A reverse proxy in front of the GCS emulator answering every media download `delay` seconds late
    (each read still well within the client's timeout, so only an overall deadline can stop a caller)."""

    server: LocalHttpServer
    downloads: list[str]

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def start_slow_storage(emulator_url: str, delay: float) -> SlowStorage:
    downloads: list[str] = []
    skip = {"host", "content-length", "connection", "accept-encoding"}
    dropped = {"content-length", "transfer-encoding", "connection", "content-encoding"}

    def forward(request: Request) -> Response:
        if request.path.startswith("/download/"):
            downloads.append(request.target)
            slow.server.stopping.wait(delay)
        headers = {name: value for name, value in request.headers.items() if name not in skip}
        answer = httpx.request(
            request.method, emulator_url + request.target, headers=headers, content=request.body or None
        )
        # Media links in metadata point at the emulator; point them here so downloads come through us.
        content = answer.content.replace(emulator_url.encode(), slow.url.encode())
        kept = {name: value for name, value in answer.headers.items() if name.lower() not in dropped}
        return Response(answer.status_code, content, kept)

    slow = SlowStorage(LocalHttpServer(forward).start(), downloads)
    return slow


def static_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table` (what a hostile or misconfigured DNS would say)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


def iter_chunks(total: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """`total` bytes of a repeating pattern, produced on the fly (never held in memory at once)."""
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece

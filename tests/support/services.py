"""The one way tests start our services: each on loopback (port 0), built by the service's own
`create_server`, stopped without a grace period when the `async with` ends. Every stack fixture uses these.

    async with job_service_running(job_settings(database_url)) as jobs: ...
    async with provider_service_running(provider_settings(fal=fal_fake)) as providers: ...
    async with storage_service_running(storage_settings(emulator.url, bucket.name)) as storage: ...
    async with gateway_running(gateway_settings(jobs.port, providers.port)) as gateway: ...

(`provider_settings` is in tests.support.providers, `storage_settings` in tests.support.storage.)
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, Protocol, TypeAlias, TypeVar

import grpc
import httpx

from gateway.server import RunningGateway, running
from gateway.settings import GatewaySettings
from job_service.server import JobService, create_engine
from job_service.server import create_server as create_job_service
from job_service.settings import JobServiceSettings
from provider_service.server import ProviderService
from provider_service.server import create_server as create_provider_service
from provider_service.settings import ProviderServiceSettings
from storage_service.server import StorageService
from storage_service.server import create_server as create_storage_service
from storage_service.settings import StorageServiceSettings
from videojobs.safe_fetch import Resolver
from videojobs.server import GrpcServer
from videojobs.v1 import job_service_pb2_grpc, provider_service_pb2_grpc, storage_service_pb2_grpc

LOOPBACK = "127.0.0.1"

# The async stubs exist only in the generated .pyi files, hence the quotes.
JobStub: TypeAlias = "job_service_pb2_grpc.JobServiceAsyncStub"
ProviderStub: TypeAlias = "provider_service_pb2_grpc.ProviderServiceAsyncStub"
StorageStub: TypeAlias = "storage_service_pb2_grpc.StorageServiceAsyncStub"
StartJobService = Callable[..., Awaitable[JobService]]
StartJobStub = Callable[..., Awaitable[JobStub]]


def target(port: int) -> str:
    """The gRPC target of a service listening on loopback."""
    return f"{LOOPBACK}:{port}"


@asynccontextmanager
async def job_stub(port: int) -> AsyncIterator[JobStub]:
    """A job_service stub on a channel of its own to the service on loopback `port`."""
    async with grpc.aio.insecure_channel(target(port)) as channel:
        yield job_service_pb2_grpc.JobServiceStub(channel)


# -- settings: loopback, port 0, and timeouts short enough for tests ----------------------------------------


def job_settings(database_url: str, **overrides: Any) -> JobServiceSettings:
    """job_service on a test database; no worker unless `worker_enabled=True` (most tests check RPCs)."""
    options: dict[str, Any] = {
        "job_host": LOOPBACK,
        "job_port": 0,
        "database_url": database_url,
        "db_pool_size": 5,
        "db_max_overflow": 10,
        "worker_enabled": False,
    }
    return JobServiceSettings(**(options | overrides))


def gateway_settings(job_port: int, provider_port: int, **overrides: Any) -> GatewaySettings:
    """The gateway in front of job_service and provider_service (for webhooks) on loopback."""
    options: dict[str, Any] = {
        "gateway_host": LOOPBACK,
        "gateway_port": 0,
        "job_target": target(job_port),
        "provider_target": target(provider_port),
        "sse_heartbeat_seconds": 0.5,
    }
    return GatewaySettings(**(options | overrides))


# -- running services ---------------------------------------------------------------------------------------


class _Stoppable(Protocol):
    async def stop(self, grace: float | None = None) -> None: ...


_Service = TypeVar("_Service", bound=_Stoppable)


@asynccontextmanager
async def started(service: _Service, start: Callable[[], Awaitable[None]]) -> AsyncIterator[_Service]:
    """`service`, started by `start`, stopped without a grace period when the block ends."""
    await start()
    try:
        yield service
    finally:
        await service.stop(0)


_Running = TypeVar("_Running")


@asynccontextmanager
async def starting(
    running: Callable[..., AbstractAsyncContextManager[_Running]],
) -> AsyncIterator[Callable[..., Awaitable[_Running]]]:
    """A stack fixture's `start(...)`: each call enters `running(...)`; all it started stops (last started,
    first stopped) when the block ends. A test starts what it needs, with the settings it needs."""
    async with AsyncExitStack() as exits:

        async def start(*args: Any, **kwargs: Any) -> _Running:
            return await exits.enter_async_context(running(*args, **kwargs))

        yield start


def job_service_running(
    settings: JobServiceSettings, *, serve_grpc: bool = True
) -> AbstractAsyncContextManager[JobService]:
    """job_service on a database the test fixtures already migrated (a clone of the migrated template)."""
    assert settings.database_url is not None, "tests always name their database"
    engine = create_engine(settings, settings.database_url)
    service = create_job_service(settings, engine, serve_grpc=serve_grpc)
    return started(service, service.start)


def provider_service_running(
    settings: ProviderServiceSettings,
) -> AbstractAsyncContextManager[ProviderService]:
    service = create_provider_service(settings)
    return started(service, service.grpc.start)


def storage_service_running(
    settings: StorageServiceSettings, *, resolver: Resolver | None = None
) -> AbstractAsyncContextManager[StorageService]:
    """`resolver` stands in for DNS (see tests.support.storage.static_resolver)."""
    service = (
        create_storage_service(settings, resolver=resolver) if resolver else create_storage_service(settings)
    )
    return started(service, service.grpc.start)


def grpc_server_running(server: GrpcServer) -> AbstractAsyncContextManager[GrpcServer]:
    """A bare gRPC server (an in-process fake of one of our own services)."""
    return started(server, server.start)


@contextmanager
def hung_service() -> Iterator[int]:
    """The port of a service of ours that is frozen (as under SIGSTOP): the kernel completes connections, and
    nothing ever reads them or answers. Calls to it end only by their own deadline."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(64)  # never accepted
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


@asynccontextmanager
async def gateway_running(settings: GatewaySettings) -> AsyncIterator[RunningGateway]:
    """The gateway's own embedded uvicorn server (gateway.server.running), on the test's event loop."""
    async with running(settings) as gateway:
        yield gateway


async def api_key(jobs: JobService, user: str, *, admin: bool = False) -> str:
    """A fresh API key for `user`, minted by job_service as `videojobs keys create` does."""
    return await jobs.jobs.mint_api_key(user, admin=admin)


async def user_client(
    gateway: RunningGateway, jobs: JobService, user: str, *, admin: bool = False
) -> httpx.AsyncClient:
    """An HTTP client of the gateway, authenticated as `user` with a fresh API key."""
    key = await api_key(jobs, user, admin=admin)
    return httpx.AsyncClient(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


class _GatewayInFront(Protocol):
    @property
    def gateway(self) -> RunningGateway: ...

    @property
    def jobs(self) -> JobService: ...


class GatewayUsers:
    """What a stack with the gateway in front of job_service offers its tests: the gateway's URL, and keys and
    HTTP clients of its users."""

    @property
    def url(self: _GatewayInFront) -> str:
        return self.gateway.url

    async def key(self: _GatewayInFront, user: str, *, admin: bool = False) -> str:
        return await api_key(self.jobs, user, admin=admin)

    async def client(self: _GatewayInFront, user: str, *, admin: bool = False) -> httpx.AsyncClient:
        return await user_client(self.gateway, self.jobs, user, admin=admin)

"""A real gateway (uvicorn on a loopback port) in front of a real job_service on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.server import RunningGateway, running
from gateway.settings import GatewaySettings
from job_service.server import JobService, create_engine, create_server
from job_service.settings import JobServiceSettings
from tests.gateway.fake_provider import FakeProviders, start_fake_providers
from tests.support.providers import fal_fake, start_provider_service  # noqa: F401 - fixtures (/v1/models)


@dataclass
class Stack:
    """What a gateway test talks to and checks against."""

    gateway: RunningGateway
    jobs: JobService
    providers: FakeProviders

    @property
    def url(self) -> str:
        return self.gateway.url

    async def key(self, user: str, *, admin: bool = False) -> str:
        return await self.jobs.jobs.mint_api_key(user, admin=admin)

    async def client(self, user: str, *, admin: bool = False) -> httpx.AsyncClient:
        """An HTTP client authenticated as `user` with a fresh API key."""
        key = await self.key(user, admin=admin)
        return httpx.AsyncClient(base_url=self.url, headers={"authorization": f"Bearer {key}"}, timeout=10)


StartStack = Callable[..., Awaitable[Stack]]


@asynccontextmanager
async def stack_running(
    database_url: str, job: dict[str, Any] | None = None, **gateway: Any
) -> AsyncIterator[Stack]:
    """job_service (worker off unless job={"worker_enabled": True}), a fake ProviderService, the gateway."""
    async with AsyncExitStack() as exits:
        job_settings = JobServiceSettings(
            job_host="127.0.0.1",
            job_port=0,
            database_url=database_url,
            db_pool_size=5,
            db_max_overflow=10,
            **({"worker_enabled": False} | (job or {})),
        )
        assert job_settings.database_url is not None
        service = create_server(job_settings, create_engine(job_settings, job_settings.database_url))
        await service.start()
        exits.push_async_callback(service.stop, 0)
        fake = FakeProviders()
        providers = start_fake_providers(fake)
        await providers.start()
        exits.push_async_callback(providers.stop, 0)
        options: dict[str, Any] = {
            "gateway_host": "127.0.0.1",
            "gateway_port": 0,
            "job_target": f"127.0.0.1:{service.port}",
            "provider_target": f"127.0.0.1:{providers.port}",
            "rpc_timeout_seconds": 5.0,
            "sse_heartbeat_seconds": 0.5,
        }
        gateway_running = await exits.enter_async_context(running(GatewaySettings(**(options | gateway))))
        yield Stack(gateway=gateway_running, jobs=service, providers=fake)


@pytest.fixture
async def start_stack(database_url: str) -> AsyncIterator[StartStack]:
    """start(job={...JobServiceSettings overrides}, **GatewaySettings overrides) -> Stack."""
    async with AsyncExitStack() as exits:

        async def start(job: dict[str, Any] | None = None, **gateway: Any) -> Stack:
            return await exits.enter_async_context(stack_running(database_url, job, **gateway))

        yield start


@pytest.fixture
async def stack(start_stack: StartStack) -> Stack:
    return await start_stack()


@pytest.fixture
async def anonymous(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        yield client


@pytest.fixture
async def alice(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with await stack.client("alice") as client:
        yield client


@pytest.fixture
async def bob(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with await stack.client("bob") as client:
        yield client

"""The gateway's stack: a real gateway (uvicorn on loopback) in front of a real job_service (no worker) on a
fresh database, with an in-process fake ProviderService for the webhook routes (tests.support
.fake_provider_service). For the gateway in front of the whole pipeline, see tests.support.pipeline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from gateway.server import RunningGateway
from job_service.server import JobService
from tests.support.fake_provider_service import FakeProviders, start_fake_providers
from tests.support.services import (
    GatewayUsers,
    gateway_running,
    gateway_settings,
    grpc_server_running,
    job_service_running,
    job_settings,
)


@dataclass
class Stack(GatewayUsers):
    """What a gateway test talks to and checks against."""

    gateway: RunningGateway
    jobs: JobService
    providers: FakeProviders


StartStack = Callable[..., Awaitable[Stack]]


@asynccontextmanager
async def stack_running(
    database_url: str, job: dict[str, Any] | None = None, **gateway: Any
) -> AsyncIterator[Stack]:
    """job_service (worker off unless job={"worker_enabled": True}), a fake ProviderService, the gateway."""
    async with AsyncExitStack() as exits:
        jobs = await exits.enter_async_context(job_service_running(job_settings(database_url, **(job or {}))))
        fake = FakeProviders()
        providers = await exits.enter_async_context(grpc_server_running(start_fake_providers(fake)))
        settings = gateway_settings(jobs.port, providers.port, **({"rpc_timeout_seconds": 5.0} | gateway))
        running = await exits.enter_async_context(gateway_running(settings))
        yield Stack(gateway=running, jobs=jobs, providers=fake)

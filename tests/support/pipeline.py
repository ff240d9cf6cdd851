"""The quick-start pipeline for tests: the gateway -> job_service (API + worker) -> provider_service and
storage_service (GCS emulator), every one real, on free loopback ports, with the orchestrator's fast policies.

    async with pipeline_running(database_url, emulator_url, bucket, {"sim_url": sim.public_url}) as stack:
        key = await stack.key("alice")   # then call stack.url over HTTP
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from gateway.server import RunningGateway, running
from gateway.settings import GatewaySettings
from job_service.server import JobService, create_engine, create_server
from provider_service.server import create_server as create_provider_service
from storage_service.server import create_server as create_storage_service
from tests.orchestrator.conftest import pipeline_settings
from tests.support.providers import provider_settings
from tests.support.storage import storage_settings


@dataclass
class Pipeline:
    gateway: RunningGateway
    job_service: JobService
    emulator_url: str

    @property
    def url(self) -> str:
        return self.gateway.url

    async def key(self, user: str) -> str:
        """A fresh API key for `user`."""
        return await self.job_service.jobs.mint_api_key(user)


@asynccontextmanager
async def pipeline_running(
    database_url: str,
    emulator_url: str,
    bucket: str,
    providers: Mapping[str, Any],
    job: Mapping[str, Any] | None = None,
    gateway: Mapping[str, Any] | None = None,
) -> AsyncIterator[Pipeline]:
    """`providers`: provider_settings() arguments (fakes, sim_url); `job`/`gateway`: settings overrides."""
    async with AsyncExitStack() as exits:
        # The sim serves its videos from loopback; storage may fetch them only in development.
        storage = create_storage_service(storage_settings(emulator_url, bucket, fetch_allow_local=True))
        await storage.grpc.start()
        exits.push_async_callback(storage.stop, 0)
        provider = create_provider_service(provider_settings(**providers))
        await provider.grpc.start()
        exits.push_async_callback(provider.stop, 0)
        settings = pipeline_settings(database_url, bucket, provider.port, storage.port, **(job or {}))
        assert settings.database_url is not None
        service = create_server(settings, create_engine(settings, settings.database_url))
        await service.start()
        exits.push_async_callback(service.stop, 0)
        gateway_settings: dict[str, Any] = {
            "gateway_port": 0,
            "job_target": f"127.0.0.1:{service.port}",
            "provider_target": f"127.0.0.1:{provider.port}",
            "sse_heartbeat_seconds": 0.5,
            "storage_emulator_host": emulator_url,
        }
        running_gateway = await exits.enter_async_context(
            running(GatewaySettings(**(gateway_settings | dict(gateway or {}))))
        )
        yield Pipeline(gateway=running_gateway, job_service=service, emulator_url=emulator_url)

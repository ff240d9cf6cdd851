"""Assemble and run provider_service: the adapters from settings, the servicer on the shared bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from provider_service.adapters.veo import TokenSource
from provider_service.generations import Generations
from provider_service.registry import build_registry
from provider_service.servicer import ProviderServicer
from provider_service.settings import ProviderServiceSettings
from videojobs.logs import get_logger
from videojobs.message_limits import GRPC_MAX_MESSAGE_BYTES
from videojobs.server import GrpcServer
from videojobs.server import create_server as create_grpc_server
from videojobs.service_main import run_until_signalled
from videojobs.v1 import provider_service_pb2, provider_service_pb2_grpc

log = get_logger(__name__)

SERVICE_NAME = provider_service_pb2.DESCRIPTOR.services_by_name["ProviderService"].full_name


@dataclass
class ProviderService:
    grpc: GrpcServer
    generations: Generations

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving, then close the providers' HTTP connections."""
        await self.grpc.stop(grace)
        await self.generations.registry.aclose()


def create_server(
    settings: ProviderServiceSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    veo_tokens: TokenSource | None = None,
) -> ProviderService:
    """Build (not start) the service; `transport` and `veo_tokens` stand in for the network and Google."""
    generations = Generations(build_registry(settings, transport=transport, veo_tokens=veo_tokens))
    server = create_grpc_server(
        settings,
        address=settings.address,
        register=lambda s: provider_service_pb2_grpc.add_ProviderServiceServicer_to_server(
            ProviderServicer(generations), s
        ),
        service_names=[SERVICE_NAME],
        max_message_bytes=GRPC_MAX_MESSAGE_BYTES,  # inline videos
    )
    return ProviderService(grpc=server, generations=generations)


@asynccontextmanager
async def running(settings: ProviderServiceSettings) -> AsyncIterator[ProviderService]:
    """The service, started, stopped gracefully on exit."""
    service = create_server(settings)
    await service.grpc.start()
    providers = service.generations.providers()
    configured = [p.name for p in providers if p.configured]
    log.info("provider_service listening", port=service.port, providers=configured)
    for provider in providers:
        if provider.configured and provider.deprecation:
            log.warning("deprecated provider mode", provider=provider.name, detail=provider.deprecation)
    try:
        yield service
    finally:
        await service.stop()


def main(settings: ProviderServiceSettings | None = None) -> None:
    run_until_signalled(settings or ProviderServiceSettings(), running)

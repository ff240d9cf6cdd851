"""Assemble and run storage_service: GCS client, safe fetcher, the servicer on the shared bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from storage_service.gcs import Gcs
from storage_service.relocate import SOURCE_FIELD
from storage_service.servicer import StorageServicer
from storage_service.settings import StorageServiceSettings
from storage_service.storage import Storage
from videojobs import safe_fetch
from videojobs.logs import get_logger
from videojobs.message_limits import GRPC_MAX_MESSAGE_BYTES
from videojobs.server import GrpcServer
from videojobs.server import create_server as create_grpc_server
from videojobs.service_main import run_until_signalled
from videojobs.v1 import storage_service_pb2, storage_service_pb2_grpc

log = get_logger(__name__)

SERVICE_NAME = storage_service_pb2.DESCRIPTOR.services_by_name["StorageService"].full_name


@dataclass
class StorageService:
    grpc: GrpcServer
    storage: Storage
    fetcher: safe_fetch.SafeFetcher

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float | None = None) -> None:
        await self.grpc.stop(grace)
        await self.fetcher.client.aclose()
        self.storage.gcs.close()


def create_server(
    settings: StorageServiceSettings,
    *,
    gcs: Gcs | None = None,
    resolver: safe_fetch.Resolver = safe_fetch.system_resolver,
) -> StorageService:
    """Build (not start) the service. `gcs` and `resolver` are injectable for tests."""
    gcs = gcs or Gcs.from_settings(settings)
    fetcher = safe_fetch.create_fetcher(settings, field=SOURCE_FIELD, resolver=resolver)
    storage = Storage(gcs, fetcher)
    server = create_grpc_server(
        settings,
        address=settings.address,
        register=lambda s: storage_service_pb2_grpc.add_StorageServiceServicer_to_server(
            StorageServicer(storage), s
        ),
        service_names=[SERVICE_NAME],
        max_message_bytes=GRPC_MAX_MESSAGE_BYTES,  # inline videos
    )
    return StorageService(grpc=server, storage=storage, fetcher=fetcher)


@asynccontextmanager
async def running(settings: StorageServiceSettings) -> AsyncIterator[StorageService]:
    """The service, started, stopped gracefully on exit."""
    # Building the client may read key files or ask the metadata server for credentials: not on the loop.
    gcs = await asyncio.to_thread(Gcs.from_settings, settings)
    service = create_server(settings, gcs=gcs)
    await service.grpc.start()
    log.info(
        "storage_service listening",
        port=service.port,
        bucket=settings.bucket,
        emulator=settings.emulator_url is not None,
    )
    try:
        yield service
    finally:
        await service.stop()


def main(settings: StorageServiceSettings | None = None) -> None:
    run_until_signalled(settings or StorageServiceSettings(), running)

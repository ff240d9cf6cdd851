"""What the admin commands work with: job_service's database and its StorageService client, built from the
same settings (environment) as `videojobs serve job`, and closed when the command ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.maintenance_queries import MaintenanceQueries
from job_service.peers import StorageClient
from job_service.server import JobService, create_engine, database_url, running, storage_channel
from job_service.settings import JobServiceSettings


@dataclass(frozen=True)
class Backend:
    settings: JobServiceSettings
    engine: AsyncEngine
    storage: StorageClient
    maintenance: MaintenanceQueries


@asynccontextmanager
async def backend(**overrides: Any) -> AsyncIterator[Backend]:
    settings = JobServiceSettings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    engine = create_engine(settings, await asyncio.to_thread(database_url, settings))
    channel = storage_channel(settings)
    try:
        storage = StorageClient(channel, settings.rpc_timeout_seconds, settings.finalize_rpc_timeout_seconds)
        yield Backend(settings, engine, storage, MaintenanceQueries(engine))
    finally:
        await channel.close()
        await engine.dispose()


@asynccontextmanager
async def service(**overrides: Any) -> AsyncIterator[JobService]:
    """job_service itself on its database (made ready as at start-up), without its gRPC server or worker: for
    commands that act through its use cases (CancelJob, DeleteJob) and its clients of the other services."""
    settings = JobServiceSettings(worker_enabled=False)
    if overrides:
        settings = settings.model_copy(update=overrides)
    async with running(settings, serve_grpc=False) as job_service:
        yield job_service

"""Assemble and run job_service: database, migrations, the JobService servicer on the shared bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from job_service import database
from job_service.domain import Limits
from job_service.jobs import JobManager
from job_service.repository import JobRepository
from job_service.servicer import JobServicer
from job_service.settings import JobServiceSettings
from videojobs.logs import configure_logging, get_logger
from videojobs.server import GrpcServer
from videojobs.server import create_server as create_grpc_server
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

log = get_logger(__name__)

SERVICE_NAME = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name


@dataclass
class JobService:
    grpc: GrpcServer
    engine: AsyncEngine
    manager: JobManager

    @property
    def port(self) -> int:
        return self.grpc.port


def database_url(settings: JobServiceSettings) -> str:
    return settings.database_url or database.embedded_postgres_url(settings.data_dir)


def create_manager(settings: JobServiceSettings, engine: AsyncEngine) -> JobManager:
    return JobManager(
        JobRepository(engine),
        Limits(daily_limit=settings.daily_limit, max_active=settings.max_active),
        settings.default_providers,
        active_limit_retry_seconds=settings.active_limit_retry_seconds,
    )


def create_engine(settings: JobServiceSettings, url: str) -> AsyncEngine:
    return database.create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


def create_server(settings: JobServiceSettings, engine: AsyncEngine) -> JobService:
    """Build (not start) the service on an already migrated database."""
    manager = create_manager(settings, engine)
    server = create_grpc_server(
        settings,
        address=settings.address,
        register=lambda s: job_service_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(manager), s),
        service_names=[SERVICE_NAME],
    )
    return JobService(grpc=server, engine=engine, manager=manager)


@asynccontextmanager
async def running(settings: JobServiceSettings) -> AsyncIterator[JobService]:
    """The service, started on a migrated database, stopped gracefully on exit."""
    url = await asyncio.to_thread(database_url, settings)
    await asyncio.to_thread(database.migrate, url)
    engine = create_engine(settings, url)
    service = create_server(settings, engine)
    await service.grpc.start()
    log.info("job_service listening", port=service.port, embedded_db=settings.database_url is None)
    try:
        yield service
    finally:
        await service.grpc.stop()
        await engine.dispose()


async def serve(settings: JobServiceSettings) -> None:
    async with running(settings) as service:
        await service.grpc.serve_until_signalled()


def main(settings: JobServiceSettings | None = None) -> None:
    settings = settings or JobServiceSettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))

"""A real job_service on loopback, on its own fresh database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import psycopg
import pytest

from job_service.server import JobService, create_engine, create_server
from job_service.settings import JobServiceSettings
from videojobs.v1 import job_service_pb2_grpc

StartJobService = Callable[..., Awaitable[JobService]]


@pytest.fixture
async def start_job_service(database_url: str) -> AsyncIterator[StartJobService]:
    started: list[JobService] = []

    async def start(**overrides: Any) -> JobService:
        # No worker by default: these tests look at job_service's own RPCs, with no providers behind it.
        options: dict[str, Any] = {
            "database_url": database_url,
            "db_pool_size": 5,
            "db_max_overflow": 10,
            "worker_enabled": False,
        }
        settings = JobServiceSettings(job_host="127.0.0.1", job_port=0, **(options | overrides))
        assert settings.database_url is not None
        service = create_server(settings, create_engine(settings, settings.database_url))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(0)


@pytest.fixture
async def job_service(start_job_service: StartJobService) -> JobService:
    return await start_job_service()


@pytest.fixture
async def stub(job_service: JobService) -> AsyncIterator[job_service_pb2_grpc.JobServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{job_service.port}") as channel:
        yield job_service_pb2_grpc.JobServiceStub(channel)  # type: ignore[misc]


@pytest.fixture
def sql(database_url: str) -> Callable[[str], list[tuple[Any, ...]]]:
    """Run a statement against the test database: to check what was (not) written, or to age a row."""

    def run(query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as conn:
            cursor = conn.execute(query)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return run

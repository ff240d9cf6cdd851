"""job_service's stack fixture: the real service on loopback, on its own fresh database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from job_service.server import JobService
from tests.support.services import (
    JobStub,
    StartJobService,
    StartJobStub,
    job_service_running,
    job_settings,
    job_stub,
    starting,
)
from videojobs.v1 import job_service_pb2_grpc


@pytest.fixture
async def start_job_service(database_url: str) -> AsyncIterator[StartJobService]:
    """start(**JobServiceSettings overrides) -> a started JobService; no worker by default: these tests look
    at job_service's own RPCs, with no providers behind it."""

    def running(**overrides: Any) -> AbstractAsyncContextManager[JobService]:
        return job_service_running(job_settings(**({"database_url": database_url} | overrides)))

    async with starting(running) as start:
        yield start


@pytest.fixture
async def job_service(start_job_service: StartJobService) -> JobService:
    return await start_job_service()


@pytest.fixture
async def stub(job_service: JobService) -> AsyncIterator[job_service_pb2_grpc.JobServiceAsyncStub]:
    async with job_stub(job_service.port) as stub:
        yield stub


@pytest.fixture
async def start_stub(start_job_service: StartJobService) -> AsyncIterator[StartJobStub]:
    """start_stub(**JobServiceSettings overrides) -> a stub of a job_service started with them, for the tests
    of what a setting changes (limits, windows, buckets)."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[JobStub]:
        service = await start_job_service(**overrides)
        async with job_stub(service.port) as stub:
            yield stub

    async with starting(running) as start:
        yield start

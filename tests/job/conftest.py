"""job_service's stack fixture: the real service on loopback, on its own fresh database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from job_service.server import JobService
from tests.support.services import job_service_running, job_settings, job_stub
from videojobs.v1 import job_service_pb2_grpc

StartJobService = Callable[..., Awaitable[JobService]]


@pytest.fixture
async def start_job_service(database_url: str) -> AsyncIterator[StartJobService]:
    """start(**JobServiceSettings overrides) -> a started JobService; no worker by default: these tests look
    at job_service's own RPCs, with no providers behind it."""
    async with AsyncExitStack() as exits:

        async def start(**overrides: Any) -> JobService:
            settings = job_settings(**({"database_url": database_url} | overrides))
            return await exits.enter_async_context(job_service_running(settings))

        yield start


@pytest.fixture
async def job_service(start_job_service: StartJobService) -> JobService:
    return await start_job_service()


@pytest.fixture
async def stub(job_service: JobService) -> AsyncIterator[job_service_pb2_grpc.JobServiceAsyncStub]:
    async with job_stub(job_service.port) as stub:
        yield stub

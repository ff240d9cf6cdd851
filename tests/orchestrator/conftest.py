"""The whole pipeline on loopback: job_service (API + worker) -> provider_service (fakes) and storage_service
(GCS emulator). Policies are tuned for speed: polls and backoffs in tens of milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
import pytest
from google.cloud import storage

from job_service.server import JobService, create_engine, create_server
from job_service.settings import JobServiceSettings
from tests.support.providers import (  # noqa: F401 - fixtures
    fal_fake,
    runway_fake,
    sim_provider,
    start_provider_service,
    veo_fake,
)
from tests.support.storage import start_storage_service  # noqa: F401 - fixture
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc

TERMINAL = {
    job_service_pb2.COMPLETED,
    job_service_pb2.FAILED,
    job_service_pb2.CONTENT_VIOLATION,
    job_service_pb2.CANCELLED,
}

FAST_JOBS: dict[str, Any] = {
    "job_host": "127.0.0.1",
    "job_port": 0,
    "db_pool_size": 10,
    "db_max_overflow": 10,
    "poll_initial_seconds": 0.05,
    "poll_max_seconds": 0.2,
    "retry_base_seconds": 0.02,
    "retry_max_seconds": 0.2,
    "lease_seconds": 5.0,
    "idle_poll_seconds": 0.1,
    "submit_unknown_wait_seconds": 0.1,
    "rpc_timeout_seconds": 10.0,
    "finalize_rpc_timeout_seconds": 20.0,
    "daily_limit": 1000,
    "max_active": 200,
}


def pipeline_settings(
    database_url: str, bucket: str, provider_port: int, storage_port: int, **overrides: Any
) -> JobServiceSettings:
    """job_service settings for a test pipeline: fast policies, wired to the given services on loopback."""
    wiring = {
        "database_url": database_url,
        "bucket": bucket,
        "provider_target": f"127.0.0.1:{provider_port}",
        "storage_target": f"127.0.0.1:{storage_port}",
    }
    return JobServiceSettings(**(FAST_JOBS | wiring | overrides))


def metadata(user: str = "alice") -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {DEV_INTERNAL_TOKEN}"), ("x-user-id", user))


@dataclass
class Stack:
    services: list[JobService]
    bucket: storage.Bucket
    stub: job_service_pb2_grpc.JobServiceAsyncStub
    database_url: str
    channel: grpc.aio.Channel
    extra: dict[str, Any] = field(default_factory=dict)

    async def create(
        self, user: str = "alice", key: str = "", **spec: Any
    ) -> job_service_pb2.CreateJobResponse:
        """A new job (these tests start many jobs of one spec on purpose, so duplicates are allowed)."""
        spec.setdefault("prompt", "a paper boat on a rainy street")
        request = job_service_pb2.CreateJobRequest(
            client_request_id=key, spec=common_pb2.VideoSpec(**spec), allow_duplicate=True
        )
        return await self.stub.CreateJob(request, metadata=metadata(user))

    async def get(self, job_id: str, user: str = "alice") -> job_service_pb2.Job:
        return await self.stub.GetJob(job_service_pb2.GetJobRequest(id=job_id), metadata=metadata(user))

    async def wait(
        self, job_id: str, user: str = "alice", within: float = 30.0, until: set[int] | None = None
    ) -> job_service_pb2.Job:
        """Poll GetJob until the job reaches one of `until` (default: any terminal state)."""
        states = until or TERMINAL
        async with asyncio.timeout(within):
            while True:
                job = await self.get(job_id, user)
                if job.state in states:
                    return job
                await asyncio.sleep(0.05)

    def names(self, prefix: str = "") -> list[str]:
        return sorted(blob.name for blob in self.bucket.client.list_blobs(self.bucket, prefix=prefix))

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def events(self, job_id: str) -> list[tuple[str, str]]:
        return [
            (kind, state)
            for kind, state in self.sql(
                "SELECT type, state FROM job_events WHERE job_id = %s ORDER BY id", job_id
            )
        ]


StartStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def start_stack(
    database_url: str,
    gcs_bucket: storage.Bucket,
    start_storage_service: Any,  # noqa: F811 - fixture
    start_provider_service: Any,  # noqa: F811 - fixture
) -> AsyncIterator[StartStack]:
    """start(providers={...provider_settings kwargs}, replicas=1, **job settings) -> a running Stack."""
    stacks: list[Stack] = []

    async def start(
        providers: dict[str, Any] | None = None,
        replicas: int = 1,
        storage_overrides: dict[str, Any] | None = None,
        **job_overrides: Any,
    ) -> Stack:
        storage_service = await start_storage_service(fetch_allow_local=True, **(storage_overrides or {}))
        provider_service = await start_provider_service(**(providers or {}))
        settings = pipeline_settings(
            database_url, gcs_bucket.name, provider_service.port, storage_service.port, **job_overrides
        )
        assert settings.database_url is not None
        services = []
        for replica in range(replicas):
            service = create_server(
                settings, create_engine(settings, settings.database_url), serve_grpc=replica == 0
            )
            await service.start()
            services.append(service)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{services[0].port}")
        stub = job_service_pb2_grpc.JobServiceStub(channel)  # type: ignore[misc]
        stack = Stack(services, gcs_bucket, stub, database_url, channel)
        stack.extra.update(provider=provider_service, storage=storage_service)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        await stack.channel.close()
        for service in stack.services:
            await service.stop(0)

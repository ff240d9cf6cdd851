"""The whole pipeline on loopback: job_service (API + worker) -> provider_service (fakes or the sim) and
storage_service (GCS emulator), optionally with the gateway in front. Policies are tuned for speed: polls
and backoffs in tens of milliseconds.

    async with pipeline_running(database_url, emulator_url, bucket, providers={"fal": fal_fake}) as stack:
        job = await stack.run(providers=["fal"])
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud.storage import Bucket

from gateway.server import RunningGateway
from job_service.server import JobService
from job_service.settings import JobServiceSettings
from provider_service.fakes import FalFake
from provider_service.server import ProviderService
from storage_service.server import StorageService
from tests.support.cli import BIN
from tests.support.grpc_client import metadata
from tests.support.policy import deployed_policy
from tests.support.postgres import run_sql
from tests.support.providers import fal_request_id, provider_settings, provider_stub
from tests.support.services import (
    GatewayUsers,
    gateway_running,
    gateway_settings,
    job_service_running,
    job_settings,
    provider_service_running,
    storage_service_running,
    target,
)
from tests.support.storage import storage_settings
from videojobs.contract import TERMINAL_JOB_STATES
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc, provider_service_pb2

TERMINAL = {job_service_pb2.JobState.Value(state) for state in TERMINAL_JOB_STATES}  # as protos

FAST_JOBS: dict[str, Any] = {
    "worker_enabled": True,
    "db_pool_size": 10,
    "db_max_overflow": 10,
    "poll_initial_seconds": 0.05,
    "poll_max_seconds": 0.2,
    "retry_base_seconds": 0.02,
    "retry_max_seconds": 0.2,
    "peer_wait_max_seconds": 0.2,
    "lease_seconds": 5.0,
    "idle_poll_seconds": 0.1,
    "submit_unknown_wait_seconds": 0.1,
    "rpc_timeout_seconds": 10.0,
    "finalize_rpc_timeout_seconds": 20.0,
    "daily_limit": 1000,
    "max_active": 200,
    # No provider limits unless a test sets them (tests/orchestrator/test_provider_limits.py).
    "limits": {},
}


def pipeline_settings(
    database_url: str, bucket: str, provider_port: int, storage_port: int, **overrides: Any
) -> JobServiceSettings:
    """job_service settings for a test pipeline: fast policies, wired to the given services on loopback."""
    wiring = {
        "bucket": bucket,
        "provider_target": target(provider_port),
        "storage_target": target(storage_port),
    }
    return job_settings(database_url, **(FAST_JOBS | wiring | overrides))


@dataclass
class Pipeline(GatewayUsers):
    """What a pipeline test talks to and checks against. `services[0]` serves the API (and runs a worker);
    further replicas run only the worker."""

    services: list[JobService]
    provider: ProviderService
    storage: StorageService
    bucket: Bucket
    database_url: str
    channel: grpc.aio.Channel
    stub: job_service_pb2_grpc.JobServiceAsyncStub
    running_gateway: RunningGateway | None = None

    @property
    def jobs(self) -> JobService:
        return self.services[0]

    async def create(
        self, user: str = "alice", key: str = "", **spec: Any
    ) -> job_service_pb2.CreateJobResponse:
        """A new job (these tests start many jobs of one spec on purpose, so duplicates are allowed)."""
        spec.setdefault("prompt", "a paper boat on a rainy street")
        request = job_service_pb2.CreateJobRequest(
            client_request_id=key, spec=common_pb2.VideoSpec(**spec), allow_duplicate=True
        )
        return await self.stub.CreateJob(request, metadata=metadata(user))

    async def run(
        self, user: str = "alice", within: float = 30.0, until: set[int] | None = None, **spec: Any
    ) -> job_service_pb2.Job:
        """A new job (create(user, **spec)) once it reaches one of `until` (default: any terminal state)."""
        created = await self.create(user, **spec)
        return await self.wait(created.job.id, user, within=within, until=until)

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

    async def run_jobs(self, count: int, within: float = 30.0, **spec: Any) -> list[job_service_pb2.Job]:
        """`count` jobs of one spec created at once, each waited for until it ends (within `within`)."""
        created = await asyncio.gather(*(self.create(**spec) for _ in range(count)))
        return [await self.wait(reply.job.id, within=within) for reply in created]

    def names(self, prefix: str = "") -> list[str]:
        return sorted(blob.name for blob in self.bucket.client.list_blobs(self.bucket, prefix=prefix))

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return run_sql(self.database_url, query, params)

    def seen_finished(self, job_id: str) -> float:
        """When the worker saw the provider's success: its FINALIZING event (epoch seconds, database time)."""
        rows = self.sql(
            "SELECT EXTRACT(EPOCH FROM create_time) FROM job_events "
            "WHERE job_id = %s AND state = 'FINALIZING' AND type = 'state_changed'",
            job_id,
        )
        return float(rows[0][0])

    def events(self, job_id: str) -> list[tuple[str, str]]:
        return [
            (kind, state)
            for kind, state in self.sql(
                "SELECT type, state FROM job_events WHERE job_id = %s ORDER BY id", job_id
            )
        ]

    # -- with the gateway in front (url, key and client: GatewayUsers) -----------------------------------
    @property
    def gateway(self) -> RunningGateway:
        assert self.running_gateway is not None, "start the pipeline with gateway={...} to call it over HTTP"
        return self.running_gateway


StartPipeline = Callable[..., Awaitable[Pipeline]]


def plain_polls(duration: float, initial: float, most: float) -> int:
    """Status polls today's schedule (Policy.poll_delay, first `initial`, at most `most` apart) makes before
    it sees a job of this duration done."""
    policy = deployed_policy(poll_initial_seconds=initial, poll_max_seconds=most)
    polls, at = 0, 0.0
    while at < duration:
        at += policy.poll_delay(polls)
        polls += 1
    return polls


async def fal_webhook_report(
    stack: Pipeline, fal_fake: FalFake, job: job_service_pb2.Job
) -> job_service_pb2.ReportProviderEventRequest:
    """fal's signed webhook about `job`, parsed by provider_service as the gateway has it parsed: the report
    job_service then gets."""
    headers, body = fal_fake.signed_webhook(fal_request_id(job))
    async with provider_stub(stack.provider.port) as providers:
        parsed = await providers.ParseWebhook(
            provider_service_pb2.ParseWebhookRequest(provider="fal", headers=headers, body=body),
            metadata=metadata(),
        )
    return job_service_pb2.ReportProviderEventRequest(
        provider="fal", provider_job_id=parsed.provider_job_id, status=parsed.status
    )


@asynccontextmanager
async def pipeline_running(
    database_url: str,
    emulator_url: str,
    bucket: Bucket,
    *,
    providers: Mapping[str, Any],
    replicas: int = 1,
    storage_overrides: Mapping[str, Any] | None = None,
    gateway: Mapping[str, Any] | None = None,
    **job_overrides: Any,
) -> AsyncIterator[Pipeline]:
    """`providers`: provider_settings() arguments (fakes, sim_url); `gateway`: GatewaySettings overrides (a
    gateway runs only when given, {} for defaults); other keywords: job_service settings."""
    async with AsyncExitStack() as exits:
        # The fakes and the sim serve their videos from loopback; storage may fetch them only in development.
        storage_options = {"fetch_allow_local": True} | dict(storage_overrides or {})
        storage_service = await exits.enter_async_context(
            storage_service_running(storage_settings(emulator_url, bucket.name, **storage_options))
        )
        provider_service = await exits.enter_async_context(
            provider_service_running(provider_settings(**providers))
        )
        settings = pipeline_settings(
            database_url, bucket.name, provider_service.port, storage_service.port, **job_overrides
        )
        services = [
            await exits.enter_async_context(job_service_running(settings, serve_grpc=replica == 0))
            for replica in range(replicas)
        ]
        channel = await exits.enter_async_context(grpc.aio.insecure_channel(target(services[0].port)))
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        running_gateway = None
        if gateway is not None:
            # The dashboard's Content-Security-Policy allows media from the emulator's origin.
            defaults = {"storage_emulator_host": emulator_url}
            options = gateway_settings(services[0].port, provider_service.port, **(defaults | dict(gateway)))
            running_gateway = await exits.enter_async_context(gateway_running(options))
        yield Pipeline(
            services, provider_service, storage_service, bucket, database_url, channel, stub, running_gateway
        )


async def admin(
    stack: Pipeline, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`videojobs admin ...` as an operator runs it against this stack (with `env` on top), in a thread: the
    services it calls run on this test's event loop."""
    env = {
        **os.environ,
        "DATABASE_URL": stack.database_url,
        "VIDEOJOBS_STORAGE_TARGET": f"127.0.0.1:{stack.storage.port}",
        "VIDEOJOBS_BUCKET": stack.bucket.name,
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN), "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

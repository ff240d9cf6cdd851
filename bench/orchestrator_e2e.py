"""The orchestrator end to end: jobs/s with an instant provider and tiny videos, 1 and 3 worker replicas.

    python -m bench.orchestrator_e2e [--jobs 150] [--webhooks 20]

Everything runs as deployed, each service its own process: the GCS emulator, storage_service, job_service
(API only) and N `videojobs serve worker` replicas; this process hosts provider_service in front of the fal
fake (answers at once, renders a tiny MP4). Printed per replica count: jobs/s from creation to COMPLETED,
state transitions/s (job_events rows), provider HTTP calls per job, and the 3-vs-1 scaling ratio measured
in the same run.

Everything shares two cores, so jobs/s says little about any one part: the second table is each process's
CPU milliseconds per job over the run (psutil), and the worker's own cost per transition. Its inverse,
transitions per worker CPU-second, is what one worker process sustains once media work (storage_service)
and the provider have cores of their own: the orchestration cost, as a number.

Then, with polling off, the latency from the provider's webhook (ParseWebhook + ReportProviderEvent) to
COMPLETED as a watcher sees it, p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg

from bench.cpu import CpuMeter, backend_pids
from bench.create_jobs import fresh_database
from provider_service.fakes import FalFake, RunwayFake
from provider_service.server import create_server as create_provider_service
from provider_service.settings import ProviderServiceSettings
from videojobs.health import wait_serving
from videojobs.logs import configure_logging
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import (
    common_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    provider_service_pb2,
    provider_service_pb2_grpc,
)
from videojobs_cli import gcs_emulator

VIDEOJOBS = str(Path(sys.executable).parent / "videojobs")
AUTH = ("authorization", f"Bearer {DEV_INTERNAL_TOKEN}")
BUCKET = "vj-bench"


def env(**values: object) -> dict[str, str]:
    return {**os.environ, "VIDEOJOBS_LOG_LEVEL": "WARNING", **{k: str(v) for k, v in values.items()}}


@contextmanager
def processes(*commands: tuple[list[str], dict[str, str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [subprocess.Popen(command, env=environment) for command, environment in commands]
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=20)


@dataclass
class Running:
    job_port: int
    provider_port: int
    cpu: CpuMeter


@asynccontextmanager
async def stack(
    url: str,
    fal: FalFake,
    replicas: int,
    poll_seconds: float,
    job_settings: Mapping[str, object] | None = None,
    runway: RunwayFake | None = None,
    source: str | None = None,
) -> AsyncIterator[Running]:
    """Storage, job API and worker processes around an in-process provider_service; yields their ports and
    a CPU meter over every process of the run. `job_settings`: more job_service environment; `runway`: a
    second provider's fake; `source`: run job_service (API and workers) from that checkout instead."""
    ports = [gcs_emulator.free_port() for _ in range(3)]
    storage_port, job_port, provider_port = ports
    runway_options: dict[str, Any] = (
        {"runway_api_secret": runway.secret, "runway_base_url": runway.url} if runway else {}
    )
    settings = ProviderServiceSettings(
        provider_port=provider_port,
        fal_key=fal.key,
        fal_queue_url=fal.url,
        fal_webhook_jwks=fal.jwks,
        sim_url=None,
        **runway_options,
    )
    provider = create_provider_service(settings)
    await provider.grpc.start()
    common = {
        "DATABASE_URL": url,
        "VIDEOJOBS_BUCKET": BUCKET,
        "VIDEOJOBS_PROVIDER_TARGET": f"127.0.0.1:{provider_port}",
        "VIDEOJOBS_STORAGE_TARGET": f"127.0.0.1:{storage_port}",
        "VIDEOJOBS_DEFAULT_PROVIDERS": '["fal"]',
        "VIDEOJOBS_DAILY_LIMIT": 1_000_000,
        "VIDEOJOBS_MAX_ACTIVE": 100_000,
        "VIDEOJOBS_POLL_INITIAL_SECONDS": poll_seconds,
        "VIDEOJOBS_POLL_MAX_SECONDS": poll_seconds,
        "VIDEOJOBS_IDLE_POLL_SECONDS": 0.1,
        # The orchestrator's own cost, so no provider limits (fal's default caps 10 in flight).
        "VIDEOJOBS_LIMITS": "{}",
        **(job_settings or {}),
        **({"PYTHONPATH": source} if source else {}),
    }
    storage = (
        [VIDEOJOBS, "serve", "storage"],
        env(
            VIDEOJOBS_STORAGE_PORT=storage_port,
            VIDEOJOBS_BUCKET=BUCKET,
            STORAGE_EMULATOR_HOST=os.environ["STORAGE_EMULATOR_HOST"],
            VIDEOJOBS_FETCH_ALLOW_LOCAL="true",
        ),
    )
    api = (
        [VIDEOJOBS, "serve", "job"],
        env(**common, VIDEOJOBS_JOB_PORT=job_port, VIDEOJOBS_WORKER_ENABLED="false"),
    )
    workers = [([VIDEOJOBS, "serve", "worker"], env(**common)) for _ in range(replicas)]
    try:
        with processes(storage, api, *workers) as started:
            await wait_serving(f"127.0.0.1:{storage_port}", within=60)
            await wait_serving(f"127.0.0.1:{job_port}", within=60)
            await wait_for_listeners(url, replicas + 1)
            cpu = CpuMeter()
            cpu.add("worker", lambda: [p.pid for p in started[2:]])
            cpu.add("job_service API", lambda: [started[1].pid])
            cpu.add("storage_service", lambda: [started[0].pid])
            cpu.add("GCS emulator", lambda: [int(os.environ["VIDEOJOBS_BENCH_EMULATOR_PID"])])
            cpu.add("Postgres", lambda: backend_pids(url))
            cpu.add("this process (provider_service, fal fake, driver)", lambda: [os.getpid()])
            yield Running(job_port, provider_port, cpu)
    finally:
        await provider.stop(0)


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


async def wait_for_listeners(url: str, expected: int) -> None:
    """Workers have no port to probe; each one's event listener shows up in pg_stat_activity when ready."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"
    )
    async with asyncio.timeout(60):
        while count(url, query) < expected:  # noqa: ASYNC110 - polls SQL
            await asyncio.sleep(0.1)


async def wait_until_all_finished(url: str) -> None:
    while count(url, "SELECT count(*) FROM jobs WHERE end_time IS NULL") > 0:  # noqa: ASYNC110 - polls SQL
        await asyncio.sleep(0.05)


@dataclass
class Throughput:
    jobs_per_second: float
    transitions_per_second: float
    calls_per_job: float
    transitions: int
    cpu_seconds: dict[str, float]


async def throughput(url: str, fal: FalFake, replicas: int, jobs: int) -> Throughput:
    """Rates, provider calls per job and CPU per process for `jobs` jobs created at once."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, job_events, quota_usage CASCADE")  # and the webhook outbox
    calls_before = sum(fal.calls.values())
    async with (
        stack(url, fal, replicas, poll_seconds=0.2) as running,
        grpc.aio.insecure_channel(f"127.0.0.1:{running.job_port}") as channel,
    ):
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        spec = common_pb2.VideoSpec(prompt="bench")
        running.cpu.start()
        started = time.perf_counter()
        await asyncio.gather(
            *(
                stub.CreateJob(
                    job_service_pb2.CreateJobRequest(client_request_id=f"b{i}", spec=spec),
                    metadata=(AUTH, ("x-user-id", f"user{i % 20}")),
                )
                for i in range(jobs)
            )
        )
        await wait_until_all_finished(url)
        elapsed = time.perf_counter() - started
        running.cpu.stop()
    completed = count(url, "SELECT count(*) FROM jobs WHERE state = 'COMPLETED'")
    if completed != jobs:
        raise RuntimeError(f"only {completed} of {jobs} jobs completed")
    transitions = count(url, "SELECT count(*) FROM job_events")
    calls = (sum(fal.calls.values()) - calls_before) / jobs
    return Throughput(jobs / elapsed, transitions / elapsed, calls, transitions, running.cpu.spent)


async def webhook_latency(url: str, fal: FalFake, samples: int) -> list[float]:
    """Seconds from the provider's webhook to a watcher seeing COMPLETED, with polling off."""
    latencies = []
    user = (AUTH, ("x-user-id", "hook"))
    async with (
        stack(url, fal, replicas=1, poll_seconds=3600) as running,
        grpc.aio.insecure_channel(f"127.0.0.1:{running.job_port}") as job_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{running.provider_port}") as provider_channel,
    ):
        jobs = job_service_pb2_grpc.JobServiceStub(job_channel)
        providers = provider_service_pb2_grpc.ProviderServiceStub(provider_channel)
        for i in range(samples):
            request = job_service_pb2.CreateJobRequest(
                client_request_id=f"hook-{i}", spec=common_pb2.VideoSpec(prompt="hook")
            )
            job = (await jobs.CreateJob(request, metadata=user)).job
            while job.state != job_service_pb2.PROCESSING:
                await asyncio.sleep(0.02)
                job = await jobs.GetJob(job_service_pb2.GetJobRequest(id=job.id), metadata=user)
            headers, body = fal.signed_webhook(job.provider_job_id.rsplit(":", 1)[-1])
            watch = jobs.WatchJob(job_service_pb2.WatchJobRequest(id=job.id), metadata=user)
            await watch.read()  # the current state: from here on the watcher sees every change
            started = time.perf_counter()
            parsed = await providers.ParseWebhook(
                provider_service_pb2.ParseWebhookRequest(provider="fal", headers=headers, body=body),
                metadata=(AUTH,),
            )
            report = job_service_pb2.ReportProviderEventRequest(
                provider="fal", provider_job_id=parsed.provider_job_id, status=parsed.status
            )
            await jobs.ReportProviderEvent(report, metadata=(AUTH,))
            while True:
                event = await watch.read()
                assert isinstance(event, job_service_pb2.JobEvent), "the stream ended before COMPLETED"
                if event.state == job_service_pb2.COMPLETED:
                    break
            latencies.append(time.perf_counter() - started)
    return latencies


def print_cpu(runs: dict[int, Throughput], jobs: int) -> None:
    print(f"CPU ms per job, by process ({jobs} jobs)")
    names = list(runs[1].cpu_seconds)
    print(f"{'process':<52}" + "".join(f" {f'{r} worker(s)':>12}" for r in runs))
    for name in names:
        print(
            f"{name:<52}" + "".join(f" {run.cpu_seconds[name] * 1000 / jobs:>12.1f}" for run in runs.values())
        )
    for replicas, run in runs.items():
        worker = run.cpu_seconds["worker"]
        print(
            f"{replicas} worker(s): {worker * 1000 / run.transitions:.2f} worker CPU ms per transition"
            f" = {run.transitions / worker:.0f} transitions per worker CPU-second"
        )


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--webhooks", type=int, default=20)
    args = parser.parse_args()

    configure_logging("WARNING")  # provider_service runs in this process
    url = fresh_database("vj_bench_orchestrator")
    with gcs_emulator.start() as emulator, FalFake() as fal:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        os.environ["VIDEOJOBS_BENCH_EMULATOR_PID"] = str(emulator.process.pid)
        gcs_emulator.ensure_bucket(emulator.url, BUCKET)
        fal.script.polls_to_finish = 0  # instant provider: done at the first poll
        print(f"{args.jobs} jobs created at once; the fal fake finishes each at its first poll")
        print(f"{'replicas':>8} {'jobs/s':>8} {'transitions/s':>14} {'provider calls/job':>19}")
        runs = {}
        for replicas in (1, 3):
            run = runs[replicas] = await throughput(url, fal, replicas, args.jobs)
            print(
                f"{replicas:>8} {run.jobs_per_second:>8.1f} {run.transitions_per_second:>14.1f}"
                f" {run.calls_per_job:>19.2f}"
            )
        print(f"scaling 3 vs 1 replicas: {runs[3].jobs_per_second / runs[1].jobs_per_second:.2f}x")
        print_cpu(runs, args.jobs)
        latencies = await webhook_latency(url, fal, args.webhooks)
        print(
            f"webhook -> COMPLETED seen by a watcher ({len(latencies)} jobs, polling off): "
            f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())

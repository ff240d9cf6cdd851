"""Scheduling within a provider's limits: one busy user's batch beside single jobs of other users, against a
fal fake whose jobs take 1-3 s, polled (no webhooks), with today's scheduler and the new one in the same run.

    python -m bench.scheduling [--jobs 200] [--cap 8] [--replicas 2]

The stack is bench.orchestrator_e2e's (every service its own process, N worker replicas). "today": no limits,
the plain poll schedule. "limits": VIDEOJOBS_LIMITS caps fal at --cap jobs in flight, with fair share and the
learned poll schedule. The poll policy is the default scaled down tenfold (first poll 0.2 s, at most 3 s
apart), so lags read as tenths of production's. Printed per scheduler: jobs/s, the most jobs the fake saw
running at once (must equal the cap with limits), provider HTTP calls per job, completion lag (the fake
finished -> the worker saw it) p50/p95, and how long the single jobs waited for their submission p50/max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass

import grpc
import psycopg

from bench.create_jobs import fresh_database
from bench.orchestrator_e2e import AUTH, BUCKET, percentile, stack, wait_until_all_finished
from provider_service.fakes import FalFake
from videojobs.logs import configure_logging
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc
from videojobs_cli import gcs_emulator

POLLS = {"VIDEOJOBS_POLL_INITIAL_SECONDS": 0.2, "VIDEOJOBS_POLL_MAX_SECONDS": 3.0}
SINGLES = 5


@dataclass
class Run:
    jobs_per_second: float
    max_running: int
    calls_per_job: float
    lags: list[float]
    single_waits: list[float]


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


async def run(url: str, jobs: int, replicas: int, settings: dict[str, object]) -> Run:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, job_events, quota_usage, provider_submits, provider_backoff")
    with FalFake() as fal:
        fal.script.durations = (1.0, 3.0)
        async with (
            stack(url, fal, replicas, poll_seconds=0.2, job_settings={**POLLS, **settings}) as running,
            grpc.aio.insecure_channel(f"127.0.0.1:{running.job_port}") as channel,
        ):
            stub = job_service_pb2_grpc.JobServiceStub(channel)

            async def create(user: str, key: str) -> None:
                request = job_service_pb2.CreateJobRequest(
                    client_request_id=key, spec=common_pb2.VideoSpec(prompt="bench")
                )
                await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

            started = time.perf_counter()
            await asyncio.gather(*(create("batch", f"b{i}") for i in range(jobs - SINGLES)))
            await asyncio.gather(*(create(f"single{i}", f"s{i}") for i in range(SINGLES)))
            await wait_until_all_finished(url)
            elapsed = time.perf_counter() - started
        seen = rows(
            url,
            "SELECT j.provider_job_id, EXTRACT(EPOCH FROM e.create_time) FROM job_events e "
            "JOIN jobs j ON j.id = e.job_id WHERE e.state = 'FINALIZING' AND e.type = 'state_changed'",
        )
        lags = [float(at) - fal.jobs[str(pid).rsplit(":", 1)[-1]].finish_time for pid, at in seen]  # type: ignore[arg-type]
        waits = rows(
            url,
            "SELECT EXTRACT(EPOCH FROM min(e.create_time) - j.create_time) FROM jobs j "
            "JOIN job_events e ON e.job_id = j.id AND e.type = 'submitting' "
            "WHERE j.user_id LIKE 'single%' GROUP BY j.id, j.create_time",
        )
        completed = rows(url, "SELECT count(*) FROM jobs WHERE state = 'COMPLETED'")[0][0]
        if completed != jobs:
            raise RuntimeError(f"only {completed} of {jobs} jobs completed")
        return Run(
            jobs / elapsed,
            fal.max_running,
            sum(fal.calls.values()) / jobs,
            lags,
            [float(wait) for (wait,) in waits],  # type: ignore[arg-type]
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--cap", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()

    configure_logging("WARNING")  # provider_service runs in this process
    url = fresh_database("vj_bench_scheduling")
    schedulers: dict[str, dict[str, object]] = {
        "today": {"VIDEOJOBS_LIMITS": "{}", "VIDEOJOBS_POLL_LEARNING": "false"},
        "limits": {
            "VIDEOJOBS_LIMITS": json.dumps({"fal": {"max_in_flight": args.cap}}),
            "VIDEOJOBS_POLL_NEAR_SECONDS": 0.25,
            "VIDEOJOBS_POLL_REFRESH_SECONDS": 2,  # learn within the run (60 s by default)
        },
    }
    with gcs_emulator.start() as emulator:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        os.environ["VIDEOJOBS_BENCH_EMULATOR_PID"] = str(emulator.process.pid)
        gcs_emulator.ensure_bucket(emulator.url, BUCKET)
        print(
            f"{args.jobs} jobs: {args.jobs - SINGLES} from one user, then one each from {SINGLES} others;"
            f" fal fake jobs take 1-3 s; {args.replicas} worker replicas"
        )
        print(
            f"{'scheduler':<10} {'jobs/s':>7} {'max in flight':>14} {'calls/job':>10}"
            f" {'lag p50':>8} {'lag p95':>8} {'single wait p50':>16} {'max':>6}"
        )
        for name, settings in schedulers.items():
            result = await run(url, args.jobs, args.replicas, settings)
            print(
                f"{name:<10} {result.jobs_per_second:>7.1f} {result.max_running:>14}"
                f" {result.calls_per_job:>10.2f} {percentile(result.lags, 50):>7.2f}s"
                f" {percentile(result.lags, 95):>7.2f}s {statistics.median(result.single_waits):>15.2f}s"
                f" {max(result.single_waits):>5.2f}s"
            )


if __name__ == "__main__":
    asyncio.run(main())

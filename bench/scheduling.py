"""Scheduling within the providers' limits: 1,000 jobs over two capped providers, one busy user's batch beside
single jobs of other users, without webhooks, with today's scheduler and the new one in the same run.

    python -m bench.scheduling [--jobs 1000] [--fal-cap 8] [--runway-cap 4] [--replicas 2] [--compare DIR]

The stack is bench.orchestrator_e2e's (every service its own process, N worker replicas) in front of a fal
fake and a Runway fake whose jobs take 0.5-1.5 s. The batch is split over the two in proportion to their caps
(2:1 by default), so with limits both are busy for about as long; the single jobs alternate between them.
"today": no limits, the plain poll schedule only. "limits": VIDEOJOBS_LIMITS caps each provider at its
--*-cap jobs in flight, with fair share, the learned poll schedule and fal's status stream. `--compare DIR`
also runs job_service (API and workers) of another checkout, e.g. a worktree of main before the limits
(`git worktree add ../before 74dd15d`), with its own defaults, in the same run (as bench.gateway_create
does). The poll policy is the default scaled down tenfold (first poll 0.2 s, at most 3 s apart), so lags
read as tenths of production's.

Printed per scheduler: jobs/s, the most jobs each fake saw running at once (with limits it must equal that
provider's cap), provider HTTP calls per job, completion lag (the fake finished -> the worker saw it)
p50/p95, and how long the single jobs waited for their submission p50/max. The default run takes 3-5 minutes
on 2 shared cores, most of it the capped run (1,000 jobs through 12 slots); `--compare` adds about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg

from bench.create_jobs import fresh_database
from bench.orchestrator_e2e import (
    AUTH,
    BUCKET,
    VIDEOJOBS,
    env,
    percentile,
    stack,
    wait_until_all_finished,
)
from provider_service.fakes import FalFake, RunwayFake
from provider_service.fakes.base import FakeProvider
from videojobs.logs import configure_logging
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc
from videojobs_cli import gcs_emulator

POLLS = {"VIDEOJOBS_POLL_INITIAL_SECONDS": 0.2, "VIDEOJOBS_POLL_MAX_SECONDS": 3.0}
DURATIONS = (0.5, 1.5)
SINGLES = 6


@dataclass
class Run:
    jobs_per_second: float
    max_running: dict[str, int]
    calls_per_job: float
    lags: list[float]
    single_waits: list[float]


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def assign(jobs: int, caps: dict[str, int]) -> list[str]:
    """Each job's provider: the batch in proportion to the caps (fal x8, runway x4, fal x8, ...), then the
    single jobs alternating between the providers."""
    cycle = [provider for provider, cap in caps.items() for _ in range(cap)]
    batch = [cycle[i % len(cycle)] for i in range(jobs - SINGLES)]
    return batch + [list(caps)[i % len(caps)] for i in range(SINGLES)]


def database_for(source: str | None) -> str:
    """A fresh database with the schema of the checkout that will use it (another one's may be older)."""
    if source is None:
        return fresh_database("vj_bench_scheduling")
    url = fresh_database("vj_bench_scheduling", migrate=False)
    migrate = [VIDEOJOBS, "migrate"]
    environment = {**env(DATABASE_URL=url), "PYTHONPATH": source}
    subprocess.run(migrate, env=environment, check=True, timeout=120, stdout=subprocess.DEVNULL)
    return url


async def run(
    jobs: int, replicas: int, caps: dict[str, int], settings: dict[str, object], source: str | None
) -> Run:
    url = database_for(source)
    with FalFake() as fal, RunwayFake() as runway:
        fakes: dict[str, FakeProvider] = {"fal": fal, "runway": runway}
        for fake in fakes.values():
            fake.script.durations = DURATIONS
        async with (
            stack(
                url,
                fal,
                replicas,
                poll_seconds=0.2,
                job_settings={**POLLS, **settings},
                runway=runway,
                source=source,
            ) as running,
            grpc.aio.insecure_channel(f"127.0.0.1:{running.job_port}") as channel,
        ):
            stub = job_service_pb2_grpc.JobServiceStub(channel)

            async def create(user: str, key: str, provider: str) -> None:
                request = job_service_pb2.CreateJobRequest(
                    client_request_id=key, spec=common_pb2.VideoSpec(prompt="bench", providers=[provider])
                )
                await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

            providers = assign(jobs, caps)
            batch, singles = providers[:-SINGLES], providers[-SINGLES:]
            started = time.perf_counter()
            await asyncio.gather(*(create("batch", f"b{i}", p) for i, p in enumerate(batch)))
            await asyncio.gather(*(create(f"single{i}", f"s{i}", p) for i, p in enumerate(singles)))
            await wait_until_all_finished(url)
            elapsed = time.perf_counter() - started
        finished = {job_id: job.finish_time for fake in fakes.values() for job_id, job in fake.jobs.items()}
        seen = rows(
            url,
            "SELECT j.provider_job_id, EXTRACT(EPOCH FROM e.create_time) FROM job_events e "
            "JOIN jobs j ON j.id = e.job_id WHERE e.state = 'FINALIZING' AND e.type = 'state_changed'",
        )
        lags = [float(at) - finished[str(pid).rsplit(":", 1)[-1]] for pid, at in seen]  # type: ignore[arg-type]
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
            {name: fake.max_running for name, fake in fakes.items()},
            sum(sum(fake.calls.values()) for fake in fakes.values()) / jobs,
            lags,
            [float(wait) for (wait,) in waits],  # type: ignore[arg-type]
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--fal-cap", type=int, default=8)
    parser.add_argument("--runway-cap", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument(
        "--compare", metavar="DIR", help="also run the job service of another checkout (e.g. a git worktree)"
    )
    args = parser.parse_args()

    configure_logging("WARNING")  # provider_service runs in this process
    caps = {"fal": args.fal_cap, "runway": args.runway_cap}
    today: dict[str, object] = {
        "VIDEOJOBS_LIMITS": "{}",
        "VIDEOJOBS_POLL_LEARNING": "false",
        "VIDEOJOBS_STATUS_STREAMS": 0,
    }
    limits: dict[str, object] = {
        "VIDEOJOBS_LIMITS": json.dumps({name: {"max_in_flight": cap} for name, cap in caps.items()}),
        "VIDEOJOBS_POLL_NEAR_SECONDS": 0.25,
        "VIDEOJOBS_POLL_REFRESH_SECONDS": 2,  # learn within the run (60 s by default)
    }
    schedulers: dict[str, tuple[dict[str, object], str | None]] = {"today": (today, None)}
    if args.compare:
        schedulers[f"today ({Path(args.compare).name})"] = ({}, args.compare)
    schedulers["limits"] = (limits, None)
    with gcs_emulator.start() as emulator:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        os.environ["VIDEOJOBS_BENCH_EMULATOR_PID"] = str(emulator.process.pid)
        gcs_emulator.ensure_bucket(emulator.url, BUCKET)
        shares = assign(args.jobs, caps)
        print(
            f"{args.jobs} jobs ({shares.count('fal')} fal, {shares.count('runway')} runway):"
            f" {args.jobs - SINGLES} from one user, then one each from {SINGLES} others;"
            f" the fakes' jobs take {DURATIONS[0]:g}-{DURATIONS[1]:g} s; {args.replicas} worker replicas;"
            f" caps with limits: fal {args.fal_cap}, runway {args.runway_cap}"
        )
        width = max(len(name) for name in schedulers)
        print(
            f"{'scheduler':<{width}} {'jobs/s':>7} {'max in flight fal':>18} {'runway':>7} {'calls/job':>10}"
            f" {'lag p50':>8} {'lag p95':>8} {'single wait p50':>16} {'max':>6}"
        )
        for name, (settings, source) in schedulers.items():
            result = await run(args.jobs, args.replicas, caps, settings, source)
            print(
                f"{name:<{width}} {result.jobs_per_second:>7.1f} {result.max_running['fal']:>18}"
                f" {result.max_running['runway']:>7} {result.calls_per_job:>10.2f}"
                f" {percentile(result.lags, 50):>7.2f}s {percentile(result.lags, 95):>7.2f}s"
                f" {statistics.median(result.single_waits):>15.2f}s {max(result.single_waits):>5.2f}s"
            )


if __name__ == "__main__":
    asyncio.run(main())

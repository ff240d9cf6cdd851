"""HTTP create throughput and latency through the gateway against direct gRPC CreateJob, in the same run.

    python -m bench.gateway_create [--seconds 3] [--clients 8,32] [--workers 2]

job_service (API only, no worker) and the gateway (uvicorn, `--workers` processes) run as their own
processes on a fresh database; this process drives both with N concurrent clients. Each client acts for
its own user (an API key per client over HTTP, the same user ids over gRPC), so users never wait on each
other's per-user lock. Target: HTTP/gRPC throughput ratio >= 0.6 at 8-32 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx

from bench.create_jobs import AUTH, SPEC, fresh_database
from job_service import apikeys
from job_service.repository import ApiKeyStore
from job_service.server import create_engine
from job_service.settings import JobServiceSettings
from videojobs.health import wait_serving
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

BODY = {"prompt": SPEC.prompt, "duration_seconds": SPEC.duration_seconds}


async def measure(
    clients: int, seconds: float, one: Callable[[int], Awaitable[None]]
) -> tuple[float, float, float]:
    """(calls per second, p50 ms, p99 ms) with `clients` concurrent loops for `seconds`."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def loop(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "videojobs"), *args], env={**os.environ, **env}
    )


async def mint_keys(url: str, users: list[str]) -> list[str]:
    settings = JobServiceSettings(database_url=url)
    engine = create_engine(settings, url)
    try:
        repository = ApiKeyStore(engine)
        return [await apikeys.mint_for(repository, user) for user in users]
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--job-port", type=int, default=50161)
    parser.add_argument("--http-port", type=int, default=18080)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    url = fresh_database()
    common = {"VIDEOJOBS_LOG_LEVEL": "WARNING", "DATABASE_URL": url}
    job = start(
        ["serve", "job"],
        common
        | {
            "VIDEOJOBS_JOB_PORT": str(args.job_port),
            "VIDEOJOBS_WORKER_ENABLED": "false",
            "VIDEOJOBS_DAILY_LIMIT": "1000000",
            "VIDEOJOBS_MAX_ACTIVE": "1000000",
            "VIDEOJOBS_DB_POOL_SIZE": "32",
        },
    )
    gateway = start(
        ["serve", "gateway"],
        common
        | {
            "VIDEOJOBS_GATEWAY_PORT": str(args.http_port),
            "VIDEOJOBS_JOB_TARGET": f"127.0.0.1:{args.job_port}",
            "VIDEOJOBS_WORKERS": str(args.workers),
            "VIDEOJOBS_RATE_LIMIT_PER_SECOND": "0",
        },
    )
    try:
        await wait_serving(f"127.0.0.1:{args.job_port}", within=60)
        users = [f"bench-{uuid.uuid4()}" for _ in range(max(levels))]
        keys = await mint_keys(url, users)
        limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{args.job_port}") as channel,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{args.http_port}", limits=limits, timeout=30
            ) as http,
        ):
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            stub = job_service_pb2_grpc.JobServiceStub(channel)

            async def via_grpc(index: int) -> None:
                request = job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC)
                await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", users[index])))

            async def via_http(index: int) -> None:
                response = await http.post(
                    "/v1/videos",
                    json=BODY,
                    headers={"authorization": f"Bearer {keys[index]}", "idempotency-key": str(uuid.uuid4())},
                )
                assert response.status_code == 201, response.text

            await measure(8, 1.0, via_grpc)  # warm up both paths (pools, key cache)
            await measure(max(levels), 1.0, via_http)
            print(f"gateway: {args.workers} uvicorn worker(s); medians of {args.rounds} x {args.seconds}s")
            print(
                f"{'clients':>7} {'gRPC/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
                f"{'HTTP/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
            )
            for clients in levels:
                grpc_runs, http_runs = [], []
                for _ in range(args.rounds):
                    grpc_runs.append(await measure(clients, args.seconds, via_grpc))
                    http_runs.append(await measure(clients, args.seconds, via_http))
                g = [statistics.median(run[i] for run in grpc_runs) for i in range(3)]
                h = [statistics.median(run[i] for run in http_runs) for i in range(3)]
                print(
                    f"{clients:>7} {g[0]:>8.0f} {g[1]:>7.1f} {g[2]:>7.1f} "
                    f"{h[0]:>8.0f} {h[1]:>7.1f} {h[2]:>7.1f} {h[0] / g[0]:>6.2f}"
                )
    finally:
        for process in (gateway, job):
            process.terminate()
        for process in (gateway, job):
            process.wait(timeout=15)


if __name__ == "__main__":
    asyncio.run(main())

"""CreateJob throughput over gRPC against a raw-SQL insert baseline, measured in the same run.

    python -m bench.create_jobs [--seconds 3] [--clients 1,8,32]

"keyless/s" creates without a key (each a new spec, so each runs the duplicate check and misses) and
"duplicate/s" repeats one spec per user without a key (each answered with the unfinished job): against
"CreateJob/s" (keyed) and "replay/s" they show what keyless deduplication costs.

"empty gRPC/s" is a health check against the same server: the most Python gRPC allows here, so "of floor"
says how much of the transport's budget a create leaves (the rest of the gap to raw SQL is the transport).

job_service runs as its own process (as deployed); this process drives it with N concurrent clients.
The baseline inserts the same row shape with psycopg, N connections, autocommit. Both hit the same
Postgres (embedded unless DATABASE_URL is set). Each create acts for a fresh user, like many users
clicking at once; a single user's creates serialize on purpose (its quota and active-job check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg
from psycopg import sql

from job_service import database
from videojobs.health import check, wait_serving
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
SPEC = common_pb2.VideoSpec(prompt="benchmark: a slow pan over a mountain lake", duration_seconds=4)
AUTH = ("authorization", f"Bearer {DEV_INTERNAL_TOKEN}")
RATES = ("raw", "create", "replay", "keyless", "duplicate", "floor")


def fresh_database(name: str = "vj_bench") -> str:
    """An empty, migrated database `name` (each benchmark its own, so they can run side by side)."""
    server = os.environ.get("DATABASE_URL") or database.embedded_postgres_url(ROOT / ".videojobs" / "bench")
    with psycopg.connect(database.with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database.with_database(server, name)
    database.migrate(url)
    return url


async def measure(clients: int, seconds: float, one: Callable[[int], Awaitable[None]]) -> float:
    """Calls per second with `clients` concurrent loops calling `one(client_index)` for `seconds`."""
    deadline = time.perf_counter() + seconds
    counts = [0] * clients

    async def loop(index: int) -> None:
        while time.perf_counter() < deadline:
            await one(index)
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return sum(counts) / (time.perf_counter() - started)


async def raw_insert_baseline(url: str, clients: int, seconds: float) -> float:
    connections = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(clients)]
    spec = json.dumps(
        {"prompt": SPEC.prompt, "duration_seconds": 4, "aspect_ratio": "16:9", "providers": ["sim"]}
    )
    query = sql.SQL(
        "INSERT INTO jobs (id, user_id, client_request_id, spec, state, quota_day) "
        "VALUES (%s, %s, %s, %s, 'PENDING', %s)"
    )

    async def one(index: int) -> None:
        await connections[index].execute(
            query, (uuid.uuid4(), f"raw-{uuid.uuid4()}", str(uuid.uuid4()), spec, datetime.now(UTC).date())
        )

    try:
        return await measure(clients, seconds, one)
    finally:
        for conn in connections:
            await conn.close()


async def grpc_creates(stub: job_service_pb2_grpc.JobServiceAsyncStub, clients: int, seconds: float) -> float:
    async def one(_index: int) -> None:
        request = job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC)
        await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", f"bench-{uuid.uuid4()}")))

    return await measure(clients, seconds, one)


async def grpc_keyless_creates(
    stub: job_service_pb2_grpc.JobServiceAsyncStub, clients: int, seconds: float
) -> float:
    async def one(_index: int) -> None:
        spec = common_pb2.VideoSpec(prompt=f"{SPEC.prompt} {uuid.uuid4()}", duration_seconds=4)
        response = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(spec=spec),
            metadata=(AUTH, ("x-user-id", f"bench-{uuid.uuid4()}")),
        )
        assert response.created

    return await measure(clients, seconds, one)


async def grpc_duplicates(
    stub: job_service_pb2_grpc.JobServiceAsyncStub, clients: int, seconds: float
) -> float:
    users = [f"dup-{uuid.uuid4()}" for _ in range(clients)]
    request = job_service_pb2.CreateJobRequest(spec=SPEC)
    for user in users:
        await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

    async def one(index: int) -> None:
        response = await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", users[index])))
        assert response.reason == job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST

    return await measure(clients, seconds, one)


async def grpc_floor(channel: grpc.aio.Channel, clients: int, seconds: float) -> float:
    """Empty health checks against the same server: what Python gRPC alone allows on this machine."""

    async def one(_index: int) -> None:
        await check(channel)

    return await measure(clients, seconds, one)


async def grpc_replays(stub: job_service_pb2_grpc.JobServiceAsyncStub, clients: int, seconds: float) -> float:
    users = [f"replay-{uuid.uuid4()}" for _ in range(clients)]
    requests = [
        job_service_pb2.CreateJobRequest(client_request_id="same-click", spec=SPEC) for _ in range(clients)
    ]
    for user, request in zip(users, requests, strict=True):
        await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

    async def one(index: int) -> None:
        response = await stub.CreateJob(requests[index], metadata=(AUTH, ("x-user-id", users[index])))
        assert not response.created

    return await measure(clients, seconds, one)


def start_service(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "VIDEOJOBS_JOB_PORT": str(port),
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
        "VIDEOJOBS_DAILY_LIMIT": "1000000",
        "VIDEOJOBS_DB_POOL_SIZE": "16",  # x2 pools + overflow + baseline stay under 100
        "VIDEOJOBS_DB_MAX_OVERFLOW": "0",
        "VIDEOJOBS_WORKER_ENABLED": "false",  # CreateJob alone: no providers behind this service
    }
    return subprocess.Popen([Path(sys.executable).parent / "videojobs", "serve", "job"], env=env)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--port", type=int, default=50151)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    url = fresh_database()
    service = start_service(url, args.port)
    try:
        await wait_serving(f"127.0.0.1:{args.port}", within=60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{args.port}") as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await grpc_creates(stub, 8, 1.0)  # warm up pools and caches on both sides
            await raw_insert_baseline(url, 8, 1.0)
            header = (
                "clients", "raw insert/s", "CreateJob/s", "ratio", "replay/s", "keyless/s", "vs keyed",
                "duplicate/s", "empty gRPC/s", "floor",
            )  # fmt: skip
            print("{:>7} {:>13} {:>12} {:>6} {:>9} {:>10} {:>9} {:>12} {:>13} {:>6}".format(*header))
            for clients in levels:
                # Alternate the sides so a noisy neighbour hurts all alike; report medians.
                runs: dict[str, list[float]] = {name: [] for name in RATES}
                for _ in range(args.rounds):
                    runs["raw"].append(await raw_insert_baseline(url, clients, args.seconds))
                    runs["create"].append(await grpc_creates(stub, clients, args.seconds))
                    runs["replay"].append(await grpc_replays(stub, clients, args.seconds))
                    runs["keyless"].append(await grpc_keyless_creates(stub, clients, args.seconds))
                    runs["duplicate"].append(await grpc_duplicates(stub, clients, args.seconds))
                    runs["floor"].append(await grpc_floor(channel, clients, args.seconds))
                m = {name: statistics.median(values) for name, values in runs.items()}
                print(
                    f"{clients:>7} {m['raw']:>13.0f} {m['create']:>12.0f} {m['create'] / m['raw']:>6.2f}"
                    f" {m['replay']:>9.0f} {m['keyless']:>10.0f} {m['keyless'] / m['create']:>9.2f}"
                    f" {m['duplicate']:>12.0f} {m['floor']:>13.0f} {m['create'] / m['floor']:>6.2f}"
                )
    finally:
        service.terminate()
        service.wait(timeout=15)


if __name__ == "__main__":
    asyncio.run(main())

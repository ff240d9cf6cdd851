"""CreateJob throughput over gRPC against a raw-SQL insert baseline, measured in the same run.

    python -m bench.create_jobs [--seconds 3] [--clients 1,8,32]

"keyless/s" creates without a key (each a new spec, so each runs the duplicate check and misses) and
"duplicate/s" repeats one spec per user without a key (each answered with the unfinished job): against
"CreateJob/s" (keyed) and "replay/s" they show what keyless deduplication costs.

"procrastinate/s" is procrastinate's `defer_async` with a queueing lock (its guard against a job enqueued
twice, as our key is), in this process with no network hop, on the same Postgres: the best Python job queue
doing the nearest thing to a create. "vs pq" is CreateJob over it, "replay vs pq" a replay over it.

"empty gRPC/s" is a health check against the same server: the most Python gRPC allows here, so "of floor"
says how much of the transport's budget a create leaves (the rest of the gap to raw SQL is the transport).

Last, CPU milliseconds per call at --cpu-clients (8) for procrastinate's defer, a create, a replay and an
empty call, split by process: this one (the clients, or procrastinate itself), job_service, and Postgres (the
postmaster and every backend, including those that exit during the measurement). On a machine where CPU is
the limit, a call's rate is the cores over its total, so the totals say what a rate ratio can be.

job_service runs as its own process (as deployed); this process drives it with N concurrent clients.
The baseline inserts the same row shape with psycopg, N connections, autocommit. Both hit the same
Postgres (embedded unless DATABASE_URL is set). Each create acts for a fresh user, like many users
clicking at once; a single user's creates serialize on purpose (its quota and active-job check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc
import procrastinate
import psutil
import psycopg
from psycopg import sql

from bench.cpu import CpuMeter, postgres_cpu_seconds
from job_service import database
from videojobs.health import check, wait_serving
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
SPEC = common_pb2.VideoSpec(prompt="benchmark: a slow pan over a mountain lake", duration_seconds=4)
AUTH = ("authorization", f"Bearer {DEV_INTERNAL_TOKEN}")
RATES = ("raw", "procrastinate", "create", "replay", "keyless", "duplicate", "floor")


def fresh_database(name: str = "vj_bench", migrate: bool = True) -> str:
    """An empty database `name`, migrated unless told not to (each benchmark its own, so they can run side
    by side)."""
    server = os.environ.get("DATABASE_URL") or database.embedded_postgres_url(ROOT / ".videojobs" / "bench")
    with psycopg.connect(database.with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database.with_database(server, name)
    if migrate:
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


class Connections:
    """One gRPC connection per client (a local subchannel pool each): with `--processes`, the kernel hands
    each connection to one process, as it would several gateway workers'."""

    def __init__(self, target: str, count: int) -> None:
        self.channels = [
            grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(count)
        ]
        self.stubs = [job_service_pb2_grpc.JobServiceStub(channel) for channel in self.channels]

    def stub(self, client: int) -> job_service_pb2_grpc.JobServiceAsyncStub:
        return self.stubs[client % len(self.stubs)]

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


@asynccontextmanager
async def procrastinate_deferring(
    url: str, clients: int
) -> AsyncIterator[Callable[[float], Awaitable[float]]]:
    """procrastinate's defer_async, each with its own queueing lock, over an open pool of `clients`
    connections: yields a function measuring defers per second for some seconds."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url, min_size=clients, max_size=clients)
    )

    @app.task(name="render", queue="videos")
    async def render(prompt: str, duration_seconds: int) -> None:  # never run: only deferred
        del prompt, duration_seconds

    async def one(_index: int) -> None:
        await render.configure(queueing_lock=str(uuid.uuid4())).defer_async(
            prompt=SPEC.prompt, duration_seconds=4
        )

    async with app.open_async():
        yield lambda seconds: measure(clients, seconds, one)


async def procrastinate_defers(url: str, clients: int, seconds: float) -> float:
    async with procrastinate_deferring(url, clients) as defers:
        return await defers(seconds)


def procrastinate_schema(url: str) -> None:
    """procrastinate's own tables in the benchmark database (beside ours, as an app using both would)."""
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=url))
    with app.open():
        app.schema_manager.apply_schema()


async def grpc_creates(conns: Connections, clients: int, seconds: float) -> float:
    async def one(index: int) -> None:
        request = job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC)
        await conns.stub(index).CreateJob(request, metadata=(AUTH, ("x-user-id", f"bench-{uuid.uuid4()}")))

    return await measure(clients, seconds, one)


async def grpc_keyless_creates(conns: Connections, clients: int, seconds: float) -> float:
    async def one(index: int) -> None:
        spec = common_pb2.VideoSpec(prompt=f"{SPEC.prompt} {uuid.uuid4()}", duration_seconds=4)
        response = await conns.stub(index).CreateJob(
            job_service_pb2.CreateJobRequest(spec=spec),
            metadata=(AUTH, ("x-user-id", f"bench-{uuid.uuid4()}")),
        )
        assert response.created

    return await measure(clients, seconds, one)


async def grpc_duplicates(conns: Connections, clients: int, seconds: float) -> float:
    users = [f"dup-{uuid.uuid4()}" for _ in range(clients)]
    request = job_service_pb2.CreateJobRequest(spec=SPEC)
    for index, user in enumerate(users):
        await conns.stub(index).CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

    async def one(index: int) -> None:
        response = await conns.stub(index).CreateJob(request, metadata=(AUTH, ("x-user-id", users[index])))
        assert response.reason == job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST

    return await measure(clients, seconds, one)


async def grpc_floor(conns: Connections, clients: int, seconds: float) -> float:
    """Empty health checks against the same server: what Python gRPC alone allows on this machine."""

    async def one(index: int) -> None:
        await check(conns.channels[index % len(conns.channels)])

    return await measure(clients, seconds, one)


async def grpc_replays(conns: Connections, clients: int, seconds: float) -> float:
    users = [f"replay-{uuid.uuid4()}" for _ in range(clients)]
    requests = [
        job_service_pb2.CreateJobRequest(client_request_id="same-click", spec=SPEC) for _ in range(clients)
    ]
    for index, (user, request) in enumerate(zip(users, requests, strict=True)):
        await conns.stub(index).CreateJob(request, metadata=(AUTH, ("x-user-id", user)))

    async def one(index: int) -> None:
        response = await conns.stub(index).CreateJob(
            requests[index], metadata=(AUTH, ("x-user-id", users[index]))
        )
        assert not response.created

    return await measure(clients, seconds, one)


def start_service(url: str, port: int, processes: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "VIDEOJOBS_JOB_PORT": str(port),
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
        "VIDEOJOBS_DAILY_LIMIT": "1000000",
        # The same connection budget however it is split: (2 pools x 16 + 1) in all, plus the baselines' 32,
        # under embedded Postgres' 100.
        "VIDEOJOBS_DB_POOL_SIZE": str(16 // processes),
        "VIDEOJOBS_DB_MAX_OVERFLOW": "0",
        "VIDEOJOBS_WORKER_ENABLED": "false",  # CreateJob alone: no providers behind this service
    }
    command = [str(Path(sys.executable).parent / "videojobs"), "serve", "job", "--processes", str(processes)]
    return subprocess.Popen(command, env=env)


async def cpu_per_call(
    url: str, conns: Connections, service: subprocess.Popen[bytes], clients: int, seconds: float
) -> None:
    """CPU ms per call of each kind, by process (module docstring). procrastinate's pool stays open across
    its measurement: backends that connect or exit inside it would blur the Postgres figure."""
    meter = CpuMeter()
    meter.add("this process", lambda: [os.getpid()])
    meter.add("job_service", lambda: [service.pid, *(c.pid for c in psutil.Process(service.pid).children())])
    postgres = postgres_cpu_seconds(url)
    print(
        f"{f'CPU ms per call at {clients} clients':<34}"
        f" {'this process':>12} {'job_service':>11} {'Postgres':>8} {'total':>6}"
    )
    async with procrastinate_deferring(url, clients) as defers:
        kinds: dict[str, Callable[[], Awaitable[float]]] = {
            "procrastinate defer": lambda: defers(seconds),
            "CreateJob": lambda: grpc_creates(conns, clients, seconds),
            "replay": lambda: grpc_replays(conns, clients, seconds),
            "empty gRPC call": lambda: grpc_floor(conns, clients, seconds),
        }
        for name, run in kinds.items():
            meter.start()
            pg_before, started = postgres(), time.perf_counter()
            calls = await run() * (time.perf_counter() - started)
            meter.stop()
            pg_ms = (postgres() - pg_before) * 1000 / calls
            here = meter.spent["this process"] * 1000 / calls
            # procrastinate never calls job_service: its idle event loop's wake-ups are not a defer's cost.
            service_ms = (
                0.0 if name.startswith("procrastinate") else meter.spent["job_service"] * 1000 / calls
            )
            total = here + service_ms + pg_ms
            print(f"{name:<34} {here:>12.3f} {service_ms:>11.3f} {pg_ms:>8.3f} {total:>6.3f}", flush=True)


HEADER = (
    "procs", "clients", "raw insert/s", "procrastinate/s", "CreateJob/s", "vs raw", "vs pq", "replay/s",
    "replay vs pq", "keyless/s", "vs keyed", "duplicate/s", "empty gRPC/s", "floor",
)  # fmt: skip
ROW = "{:>5} {:>7} {:>12} {:>15} {:>11} {:>6} {:>5} {:>8} {:>12} {:>9} {:>8} {:>11} {:>12} {:>5}"


async def measure_service(
    url: str, port: int, processes: int, levels: list[int], args: argparse.Namespace
) -> None:
    """One row per client count, job_service running as `processes` processes on one port."""
    service = start_service(url, port, processes)
    conns = Connections(f"127.0.0.1:{port}", max(levels))
    try:
        await wait_serving(f"127.0.0.1:{port}", within=60)
        await grpc_creates(conns, max(levels), 1.0)  # warm up pools and caches on both sides
        await raw_insert_baseline(url, 8, 1.0)
        await procrastinate_defers(url, 8, 1.0)
        for clients in levels:
            # Alternate the sides so a noisy neighbour hurts all alike; report medians.
            runs: dict[str, list[float]] = {name: [] for name in RATES}
            for _ in range(args.rounds):
                runs["raw"].append(await raw_insert_baseline(url, clients, args.seconds))
                runs["procrastinate"].append(await procrastinate_defers(url, clients, args.seconds))
                runs["create"].append(await grpc_creates(conns, clients, args.seconds))
                runs["replay"].append(await grpc_replays(conns, clients, args.seconds))
                runs["keyless"].append(await grpc_keyless_creates(conns, clients, args.seconds))
                runs["duplicate"].append(await grpc_duplicates(conns, clients, args.seconds))
                runs["floor"].append(await grpc_floor(conns, clients, args.seconds))
            m = {name: statistics.median(values) for name, values in runs.items()}
            pq = m["procrastinate"]
            print(
                f"{processes:>5} {clients:>7} {m['raw']:>12.0f} {pq:>15.0f} {m['create']:>11.0f}"
                f" {m['create'] / m['raw']:>6.2f} {m['create'] / pq:>5.2f} {m['replay']:>8.0f}"
                f" {m['replay'] / pq:>12.2f} {m['keyless']:>9.0f} {m['keyless'] / m['create']:>8.2f}"
                f" {m['duplicate']:>11.0f} {m['floor']:>12.0f} {m['create'] / m['floor']:>5.2f}",
                flush=True,
            )
        if args.cpu_clients:
            await cpu_per_call(url, conns, service, args.cpu_clients, args.seconds)
    finally:
        await conns.close()
        service.terminate()
        service.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--processes", default="1,2", help="job_service processes (serve --processes)")
    parser.add_argument("--port", type=int, default=50151)
    parser.add_argument("--cpu-clients", type=int, default=8, help="clients for the CPU split (0: none)")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    url = fresh_database()
    procrastinate_schema(url)
    print(ROW.format(*HEADER))
    for processes in (int(p) for p in args.processes.split(",")):
        await measure_service(url, args.port, processes, levels, args)


if __name__ == "__main__":
    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # its note on apps defined in __main__
    asyncio.run(main())

"""HTTP create throughput and latency through the gateway against direct gRPC CreateJob, in the same run.

    python -m bench.gateway_create [--seconds 3] [--clients 8,32] [--workers 2]

job_service (API only, no worker) and the gateway (uvicorn, `--workers` processes) run as their own
processes on a fresh database; this process drives both with N concurrent clients. Each client acts for
its own user (an API key per client over HTTP, the same user ids over gRPC), so users never wait on each
other's per-user lock. Target: HTTP/gRPC throughput ratio >= 0.6 at 8-32 clients.

Everything shares one machine, so the second table says where the CPU goes: milliseconds of CPU per
request in this driver, the gateway's processes, job_service and Postgres. The "empty" rows are the floor
of each transport measured the same way: `GET /healthz` through the gateway (no auth, no gRPC) and a gRPC
health check against job_service.
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import httptools
import httpx
import psutil

from bench.create_jobs import AUTH, ROOT, SPEC, fresh_database
from job_service import apikeys
from job_service.repository import ApiKeyStore
from job_service.server import create_engine
from job_service.settings import JobServiceSettings
from videojobs.health import check, wait_serving
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

BODY = {"prompt": SPEC.prompt, "duration_seconds": SPEC.duration_seconds}
PGDATA = ROOT / ".videojobs" / "bench" / "postgres"
SIDES = ("driver", "gateway", "job", "postgres")

Finder = Callable[[], list[psutil.Process]]
Call = Callable[[int], Awaitable[None]]


# --- CPU accounting ----------------------------------------------------------------------------------------


def with_children(pid: int) -> Finder:
    def find() -> list[psutil.Process]:
        try:
            parent = psutil.Process(pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return find


def postmaster(pgdata: Path) -> Finder:
    """The Postgres server of `pgdata` with its backends (not other Postgres servers on the machine)."""

    def find() -> list[psutil.Process]:
        for process in psutil.process_iter(["cmdline"]):
            cmdline = process.info["cmdline"] or []
            if cmdline and cmdline[0].endswith("postgres") and str(pgdata) in cmdline:
                return with_children(process.pid)()
        return []

    return find


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds: dict[int, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


@dataclass
class Run:
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float]  # CPU milliseconds per request, by side


async def measure(clients: int, seconds: float, one: Call, sides: Mapping[str, Finder]) -> Run:
    """`clients` concurrent loops calling `one(client_index)` for `seconds`, with the CPU each side used."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def loop(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one(index)
            latencies.append(time.perf_counter() - started)

    before = {name: cpu_seconds(find()) for name, find in sides.items()}
    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    cpu: dict[str, float] = {}
    for name, find in sides.items():
        after = cpu_seconds(find())
        used = sum(value - before[name].get(pid, 0.0) for pid, value in after.items())
        cpu[name] = used * 1000 / len(latencies)
    cuts = statistics.quantiles(latencies, n=100)
    return Run(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000, cpu)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.per_second for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        {side: statistics.median(r.cpu_ms[side] for r in runs) for side in runs[0].cpu_ms},
    )


# --- a lean HTTP/1.1 driver ------------------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, parsed by httptools (uvicorn's C parser).

    httpx spends several times the gRPC client's CPU per call (its pool and pure-Python parsing); on a
    shared 2-core machine that would bill the driver's cost to the gateway. This costs about what the
    gRPC client does, so both sides are driven alike.
    """

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body = bytearray()
        self._reply: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        _, connection = await asyncio.get_running_loop().create_connection(cls, host, port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(ConnectionError("the gateway closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        assert self._reply is not None
        self._reply.set_result((self._parser.get_status_code(), bytes(self._body)))
        self._body.clear()

    async def request(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> int:
        lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        assert self._transport is not None
        self._reply = asyncio.get_running_loop().create_future()
        self._transport.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        status, reply = await self._reply
        assert status < 500, reply
        return status

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# --- the stack ---------------------------------------------------------------------------------------------


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


def print_tables(results: dict[int, dict[str, Run]]) -> None:
    print(
        f"{'clients':>7} {'gRPC/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'HTTP/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
    )
    for clients, runs in results.items():
        g, h = runs["gRPC create"], runs["HTTP create"]
        print(
            f"{clients:>7} {g.per_second:>8.0f} {g.p50_ms:>7.1f} {g.p99_ms:>7.1f} "
            f"{h.per_second:>8.0f} {h.p50_ms:>7.1f} {h.p99_ms:>7.1f} {h.per_second / g.per_second:>6.2f}"
        )
    print("\nCPU ms per request (all processes share the machine's cores)")
    print(f"{'clients':>7} {'call':<12} {'calls/s':>8} " + " ".join(f"{s:>8}" for s in SIDES) + "    total")
    for clients, runs in results.items():
        for name, run in runs.items():
            cells = " ".join(f"{run.cpu_ms[side]:>8.2f}" for side in SIDES)
            total = sum(run.cpu_ms.values())
            print(f"{clients:>7} {name:<12} {run.per_second:>8.0f} {cells} {total:>8.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--driver",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP client of this driver (see Connection)",
    )
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
    sides = {
        "driver": lambda: [psutil.Process()],  # not its children: they are the services
        "gateway": with_children(gateway.pid),
        "job": with_children(job.pid),
        "postgres": postmaster(PGDATA),
    }
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

            async def grpc_create(index: int) -> None:
                request = job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC)
                await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", users[index])))

            body = json.dumps(BODY).encode()
            connections = [await Connection.open("127.0.0.1", args.http_port) for _ in range(max(levels))]

            async def http_create(index: int) -> None:
                headers = {
                    "authorization": f"Bearer {keys[index]}",
                    "idempotency-key": str(uuid.uuid4()),
                    "content-type": "application/json",
                }
                if args.driver == "httpx":
                    response = await http.post("/v1/videos", content=body, headers=headers)
                    status = response.status_code
                else:
                    status = await connections[index].request("POST", "/v1/videos", headers, body)
                assert status == 201, status

            async def grpc_empty(_index: int) -> None:
                assert await check(channel)

            async def http_empty(index: int) -> None:
                if args.driver == "httpx":
                    status = (await http.get("/healthz")).status_code
                else:
                    status = await connections[index].request("GET", "/healthz", {})
                assert status == 200, status

            calls = {
                "gRPC create": grpc_create,
                "HTTP create": http_create,
                "gRPC empty": grpc_empty,
                "HTTP empty": http_empty,
            }
            for call in calls.values():  # warm up every path (pools, the key cache, connections)
                await measure(min(levels), 1.0, call, sides)
            load = os.getloadavg()
            print(
                f"gateway: {args.workers} uvicorn worker(s); HTTP driver: {args.driver}; "
                f"medians of {args.rounds} x {args.seconds}s"
            )
            print(
                f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores\n"
            )
            results: dict[int, dict[str, Run]] = {}
            for clients in levels:
                # Alternate the calls so a noisy neighbour hurts all alike; report medians.
                runs: dict[str, list[Run]] = {name: [] for name in calls}
                for _ in range(args.rounds):
                    for name, call in calls.items():
                        runs[name].append(await measure(clients, args.seconds, call, sides))
                results[clients] = {name: median_run(r) for name, r in runs.items()}
            print_tables(results)
            load = os.getloadavg()
            for connection in connections:
                connection.close()
            print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        for process in (gateway, job):
            process.terminate()
        for process in (gateway, job):
            process.wait(timeout=15)


if __name__ == "__main__":
    asyncio.run(main())

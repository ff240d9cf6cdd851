"""HTTP create throughput and latency through the gateway against direct gRPC CreateJob, in the same run.

    python -m bench.gateway_create [--seconds 3] [--clients 8,32] [--workers 1] [--compare DIR]

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
from job_service.key_queries import ApiKeyQueries
from job_service.server import create_engine
from job_service.settings import JobServiceSettings
from videojobs.health import check, wait_serving
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

BODY = {"prompt": SPEC.prompt, "duration_seconds": SPEC.duration_seconds}
PGDATA = ROOT / ".videojobs" / "bench" / "postgres"
SIDES = ("driver", "gateway", "job", "postgres")
REPLY_TIMEOUT_SECONDS = 30

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
    async def connect(cls, port: int) -> Connection:
        _, connection = await asyncio.get_running_loop().create_connection(cls, "127.0.0.1", port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

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
        status, reply = await asyncio.wait_for(self._reply, REPLY_TIMEOUT_SECONDS)
        assert status < 500, reply
        return status

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Connections:
    """One connection per client loop, opened again when uvicorn closed it (idle past its keep-alive)."""

    def __init__(self, port: int, count: int) -> None:
        self._port = port
        self._connections: list[Connection | None] = [None] * count

    async def request(
        self, index: int, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
    ) -> int:
        connection = self._connections[index]
        if connection is None or not connection.open:
            connection = self._connections[index] = await Connection.connect(self._port)
        return await connection.request(method, path, headers, body)

    async def wait_listening(self) -> None:
        for _ in range(300):
            try:
                self._connections[0] = await Connection.connect(self._port)
                return
            except OSError:  # uvicorn is still starting
                await asyncio.sleep(0.1)
        raise TimeoutError(f"no gateway on port {self._port}")

    def close(self) -> None:
        for connection in self._connections:
            if connection is not None:
                connection.close()


# --- the stack ---------------------------------------------------------------------------------------------


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "videojobs"), *args], env={**os.environ, **env}
    )


async def mint_keys(url: str, users: list[str]) -> list[str]:
    settings = JobServiceSettings(database_url=url)
    engine = create_engine(settings, url)
    try:
        keys = ApiKeyQueries(engine)
        return [await apikeys.mint_for(keys, user) for user in users]
    finally:
        await engine.dispose()


def print_tables(results: dict[int, dict[str, Run]]) -> None:
    print(f"{'clients':>7} {'call':<22} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs gRPC':>8}")
    for clients, runs in results.items():
        baseline = runs["gRPC create"].per_second
        for name, run in runs.items():
            ratio = f"{run.per_second / baseline:>8.2f}" if "create" in name else ""
            latency = f"{run.p50_ms:>7.1f} {run.p99_ms:>7.1f}"
            print(f"{clients:>7} {name:<22} {run.per_second:>8.0f} {latency} {ratio}")
    print("\nCPU ms per request (all processes share the machine's cores)")
    print(f"{'clients':>7} {'call':<22} " + " ".join(f"{s:>8}" for s in SIDES) + "    total")
    for clients, runs in results.items():
        for name, run in runs.items():
            cells = " ".join(f"{run.cpu_ms[side]:>8.2f}" for side in SIDES)
            print(f"{clients:>7} {name:<22} {cells} {sum(run.cpu_ms.values()):>8.2f}")


def start_gateway(
    port: int, job_port: int, workers: int, url: str, source: str | None
) -> subprocess.Popen[bytes]:
    env = {
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
        "DATABASE_URL": url,
        "VIDEOJOBS_GATEWAY_PORT": str(port),
        "VIDEOJOBS_JOB_TARGET": f"127.0.0.1:{job_port}",
        "VIDEOJOBS_WORKERS": str(workers),
        "VIDEOJOBS_RATE_LIMIT_PER_SECOND": "0",
    }
    return start(["serve", "gateway"], env | ({"PYTHONPATH": source} if source else {}))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (see the README)")
    parser.add_argument(
        "--driver",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP client of this driver (see Connection)",
    )
    parser.add_argument(
        "--compare", metavar="DIR", help="also run the gateway of another checkout (e.g. a git worktree)"
    )
    parser.add_argument("--job-port", type=int, default=50161)
    parser.add_argument("--http-port", type=int, default=18080)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    url = fresh_database()
    job = start(
        ["serve", "job"],
        {
            "VIDEOJOBS_LOG_LEVEL": "WARNING",
            "DATABASE_URL": url,
            "VIDEOJOBS_JOB_PORT": str(args.job_port),
            "VIDEOJOBS_WORKER_ENABLED": "false",
            "VIDEOJOBS_DAILY_LIMIT": "1000000",
            "VIDEOJOBS_MAX_ACTIVE": "1000000",
            "VIDEOJOBS_DB_POOL_SIZE": "16",  # x2 pools + overflow + baseline stay under 100
            "VIDEOJOBS_DB_MAX_OVERFLOW": "0",
        },
    )
    sources = {"": None} | ({f" ({Path(args.compare).name})": args.compare} if args.compare else {})
    gateways = {
        label: start_gateway(args.http_port + i, args.job_port, args.workers, url, source)
        for i, (label, source) in enumerate(sources.items())
    }
    gateway_finders = [with_children(process.pid) for process in gateways.values()]
    sides: dict[str, Finder] = {
        "driver": lambda: [psutil.Process()],  # not its children: they are the services
        "gateway": lambda: [p for find in gateway_finders for p in find()],
        "job": with_children(job.pid),
        "postgres": postmaster(PGDATA),
    }
    try:
        await wait_serving(f"127.0.0.1:{args.job_port}", within=60)
        users = [f"bench-{uuid.uuid4()}" for _ in range(max(levels))]
        keys = await mint_keys(url, users)
        body = json.dumps(BODY).encode()
        connections = {
            label: Connections(args.http_port + i, max(levels)) for i, label in enumerate(gateways)
        }
        for pool in connections.values():
            await pool.wait_listening()
        limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{args.job_port}") as channel,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{args.http_port}", limits=limits, timeout=30
            ) as http,
        ):
            stub = job_service_pb2_grpc.JobServiceStub(channel)

            async def grpc_create(index: int) -> None:
                request = job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC)
                await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", users[index])))

            def http_create(label: str) -> Call:
                async def one(index: int) -> None:
                    headers = {
                        "authorization": f"Bearer {keys[index]}",
                        "idempotency-key": str(uuid.uuid4()),
                        "content-type": "application/json",
                    }
                    if args.driver == "httpx" and not label:
                        response = await http.post("/v1/videos", content=body, headers=headers)
                        status = response.status_code
                    else:
                        status = await connections[label].request(index, "POST", "/v1/videos", headers, body)
                    assert status == 201, status

                return one

            async def grpc_empty(_index: int) -> None:
                assert await check(channel)

            async def http_empty(index: int) -> None:
                if args.driver == "httpx":
                    status = (await http.get("/healthz")).status_code
                else:
                    status = await connections[""].request(index, "GET", "/healthz", {})
                assert status == 200, status

            calls: dict[str, Call] = {"gRPC create": grpc_create}
            calls |= {f"HTTP create{label}": http_create(label) for label in gateways}
            calls |= {"gRPC empty": grpc_empty, "HTTP empty (/healthz)": http_empty}
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
            print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for pool in connections.values():
            pool.close()
    finally:
        processes = [*gateways.values(), job]
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


if __name__ == "__main__":
    asyncio.run(main())

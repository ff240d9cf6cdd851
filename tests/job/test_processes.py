"""`videojobs serve job --processes N`: N processes share one port, each takes connections, a signal stops
them all, and a copy that dies takes the set down (for the supervisor to restart) instead of being hidden."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import psutil
import pytest

from tests.support.cli import BIN
from videojobs.health import wait_serving
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc
from videojobs_cli.gcs_emulator import free_port

pytestmark = pytest.mark.slow
AUTH = ("authorization", f"Bearer {DEV_INTERNAL_TOKEN}")


class Served:
    def __init__(self, process: subprocess.Popen[bytes], port: int, metrics_port: int) -> None:
        self.process, self.port, self.metrics_port = process, port, metrics_port

    def copies(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    async def created_per_copy(self, copies: int) -> list[float]:
        counts = []
        async with httpx.AsyncClient(timeout=5) as client:
            for index in range(copies):
                text = (await client.get(f"http://127.0.0.1:{self.metrics_port + index}/metrics")).text
                line = next(
                    x
                    for x in text.splitlines()
                    if x.startswith('videojobs_jobs_created_total{result="created"}')
                )
                counts.append(float(line.split()[-1]))
        return counts


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIDEOJOBS_JOB_PORT": str(port),
        "VIDEOJOBS_METRICS_PORT": str(metrics_port),
        "VIDEOJOBS_WORKER_ENABLED": "false",
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([str(BIN), "serve", "job", "--processes", "2"], env=env)  # noqa: ASYNC220
    try:
        await wait_serving(f"127.0.0.1:{port}", within=60)
        yield Served(process, port, metrics_port)
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children():
                child.kill()
            process.kill()
            process.wait(timeout=10)


async def create_over_new_connections(port: int, connections: int) -> None:
    for _ in range(connections):
        # A local subchannel pool: each channel its own TCP connection, which the kernel hands to one copy.
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        ) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            request = job_service_pb2.CreateJobRequest(
                client_request_id=str(uuid.uuid4()), spec=common_pb2.VideoSpec(prompt="a quiet harbour")
            )
            await stub.CreateJob(request, metadata=(AUTH, ("x-user-id", f"u-{uuid.uuid4()}")))


async def test_two_processes_share_the_port_and_each_serves(served: Served) -> None:
    await create_over_new_connections(served.port, 40)

    counts = await served.created_per_copy(2)
    assert len(served.copies()) == 2
    assert sum(counts) == 40
    assert all(count > 0 for count in counts), counts  # 1 in 2**39 to fail by chance


async def test_a_signal_stops_every_copy_and_the_exit_is_clean(served: Served) -> None:
    copies = served.copies()
    served.process.send_signal(signal.SIGTERM)

    assert await asyncio.to_thread(served.process.wait, 30) == 0
    assert not any(copy.is_running() and copy.status() != psutil.STATUS_ZOMBIE for copy in copies)


async def test_a_copy_that_dies_takes_the_set_down(served: Served) -> None:
    first, second = served.copies()
    first.kill()

    assert await asyncio.to_thread(served.process.wait, 30) != 0
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE


def test_processes_need_a_fixed_port_and_a_grpc_service() -> None:
    gateway = subprocess.run(
        [str(BIN), "serve", "gateway", "--processes", "2"], capture_output=True, text=True, timeout=60
    )
    assert gateway.returncode == 2
    assert "--processes is for job, provider, storage, worker, not gateway" in gateway.stderr

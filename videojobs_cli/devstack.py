"""The local stack behind `make run`: every service on embedded defaults in one process.

Embedded Postgres (unless DATABASE_URL is set), the GCS emulator, the sim provider, provider_service,
storage_service, job_service (API + worker) and the gateway, wired to each other on loopback, the way
docker-compose wires the containers. Then `videojobs_cli.demo` shows a job going all the way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

from google.cloud import storage

from gateway.server import running as gateway_running
from gateway.settings import GatewaySettings
from job_service.server import running as job_running
from job_service.settings import JobServiceSettings
from provider_service.server import running as provider_running
from provider_service.settings import ProviderServiceSettings
from provider_service.sim.server import SimSettings
from provider_service.sim.server import start as start_sim
from storage_service.server import running as storage_running
from storage_service.settings import StorageServiceSettings
from videojobs.logs import configure_logging
from videojobs_cli import gcs_emulator
from videojobs_cli.demo import Demo

BOLD, RESET = "\033[1m", "\033[0m"


@dataclass(frozen=True)
class Ports:
    job: int = 50051
    provider: int = 50052
    storage: int = 50053
    gateway: int = 8080
    sim: int = 8090
    gcs: int = 4443

    @classmethod
    def any_free(cls) -> Ports:
        return cls(**{port.name: gcs_emulator.free_port() for port in fields(cls)})


@dataclass(frozen=True)
class Stack:
    gateway_url: str
    job_port: int
    token: str
    api_key: str
    bucket: storage.Bucket


@contextlib.asynccontextmanager
async def running(ports: Ports) -> AsyncIterator[Stack]:
    job_settings = JobServiceSettings(
        job_port=ports.job,
        provider_target=f"127.0.0.1:{ports.provider}",
        storage_target=f"127.0.0.1:{ports.storage}",
        poll_initial_seconds=1.0,
    )
    async with contextlib.AsyncExitStack() as stack:
        emulator = await asyncio.to_thread(gcs_emulator.start, job_settings.data_dir / "gcs", port=ports.gcs)
        stack.callback(emulator.stop)
        bucket = await asyncio.to_thread(gcs_emulator.ensure_bucket, emulator.url, job_settings.bucket)
        print(f"{BOLD}GCS emulator{RESET} {emulator.url}, bucket {bucket.name}")

        _, sim = start_sim(SimSettings(sim_port=ports.sim))
        stack.callback(sim.stop)
        print(f"{BOLD}sim provider{RESET} {sim.url}")

        storage_settings = StorageServiceSettings(
            storage_port=ports.storage,
            bucket=job_settings.bucket,
            storage_emulator_host=emulator.url,
            fetch_allow_local=True,  # the sim serves its videos from loopback; never set in production
        )
        await stack.enter_async_context(storage_running(storage_settings))
        provider_settings = ProviderServiceSettings(provider_port=ports.provider, sim_url=sim.url)
        await stack.enter_async_context(provider_running(provider_settings))
        jobs = await stack.enter_async_context(job_running(job_settings))
        print(
            f"{BOLD}provider_service{RESET} :{ports.provider}  "
            f"{BOLD}storage_service{RESET} :{ports.storage}  {BOLD}job_service{RESET} :{jobs.port}"
        )

        gateway_settings = GatewaySettings(
            gateway_port=ports.gateway,
            job_target=f"127.0.0.1:{jobs.port}",
            provider_target=f"127.0.0.1:{ports.provider}",
            storage_emulator_host=emulator.url,  # the dashboard's CSP lets the emulator's videos in
        )
        gateway = await stack.enter_async_context(gateway_running(gateway_settings))
        print(
            f"{BOLD}gateway{RESET} {gateway.url}  (dashboard: {gateway.url}/, API docs: {gateway.url}/docs)"
        )
        api_key = await jobs.jobs.mint_api_key("demo-user")
        yield Stack(
            gateway_url=gateway.url,
            job_port=jobs.port,
            token=job_settings.internal_token.get_secret_value(),
            api_key=api_key,
            bucket=bucket,
        )


async def run(*, ports: Ports, exit_after_demo: bool) -> int:
    configure_logging(os.environ.get("VIDEOJOBS_LOG_LEVEL", "WARNING"))  # keep the demo readable
    async with running(ports) as stack:
        await Demo(stack).run()
        if exit_after_demo:
            return 0
        print(
            f"\n{BOLD}the stack is up. Try the dashboard at {stack.gateway_url}/ with the key above, "
            f"or the curl calls shown. Ctrl-C stops it.{RESET}"
        )
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
    return 0

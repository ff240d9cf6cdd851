"""`videojobs admin` commands as operators run them: the real command in a subprocess, on a test database,
with a real storage_service on the GCS emulator behind it, and for the commands that call job_service over
gRPC (`jobs`, `quota`, `keys`), a real job_service (no worker) on that database."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator

import pytest

from job_service.server import JobService
from storage_service.server import StorageService
from tests.support.cli import BIN, Admin
from tests.support.services import job_service_running, job_settings, target


def _runner(env: dict[str, str]) -> Admin:
    async def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [str(BIN), "admin", *args],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def _environment(database_url: str, storage_service: StorageService) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIDEOJOBS_STORAGE_TARGET": target(storage_service.port),
        # No provider_service: cancelling at the provider is best effort, and refused connections are quick.
        "VIDEOJOBS_PROVIDER_TARGET": "127.0.0.1:9",
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
        # Wide enough that no table column is cut or wrapped.
        "COLUMNS": "250",
    }


@pytest.fixture
def admin(database_url: str, storage_service: StorageService) -> Admin:
    """`await admin(ARGS...)` runs `videojobs admin ARGS...` against the test database and storage_service
    (in a thread, so the service in this process keeps serving) and returns the finished process."""
    return _runner(_environment(database_url, storage_service))


@pytest.fixture
async def job_service(database_url: str, storage_service: StorageService) -> AsyncIterator[JobService]:
    settings = job_settings(
        database_url,
        storage_target=target(storage_service.port),
        provider_target="127.0.0.1:9",
        rpc_timeout_seconds=5.0,
        daily_limit=10,
        max_active=5,
    )
    async with job_service_running(settings) as service:
        yield service


@pytest.fixture
def operator(database_url: str, storage_service: StorageService, job_service: JobService) -> Admin:
    """`admin`, with job_service running and the command pointed at it (as operator "ops-1")."""
    env = _environment(database_url, storage_service)
    return _runner(env | {"VIDEOJOBS_JOB_TARGET": target(job_service.port), "VIDEOJOBS_ADMIN_USER": "ops-1"})

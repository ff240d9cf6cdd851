"""`videojobs admin` commands as operators run them: the real command in a subprocess, on a test database,
with a real storage_service on the GCS emulator behind it."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from storage_service.server import StorageService
from tests.support.cli import BIN, Admin


@pytest.fixture
def admin(database_url: str, storage_service: StorageService) -> Admin:
    """`await admin(ARGS...)` runs `videojobs admin ARGS...` against the test database and storage_service
    (in a thread, so the service in this process keeps serving) and returns the finished process."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIDEOJOBS_STORAGE_TARGET": f"127.0.0.1:{storage_service.port}",
        # No provider_service: cancelling at the provider is best effort, and refused connections are quick.
        "VIDEOJOBS_PROVIDER_TARGET": "127.0.0.1:9",
        "VIDEOJOBS_LOG_LEVEL": "WARNING",
    }

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

"""`videojobs admin` commands as operators run them: the real command in a subprocess, on a test database,
with a real storage_service on the GCS emulator behind it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storage_service.server import StorageService
from tests.support.storage import (  # noqa: F401 - fixtures used by the tests in this package
    start_storage_service,
    storage_service,
)

BIN = Path(sys.executable).parent / "videojobs"
Admin = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Sql = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def admin(database_url: str, storage_service: StorageService) -> Admin:  # noqa: F811 - the fixture above
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


@pytest.fixture
def sql(database_url: str) -> Sql:
    def run(query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return run

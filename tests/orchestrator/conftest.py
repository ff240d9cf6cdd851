"""The orchestrator's stack fixture: the whole pipeline on loopback (tests.support.pipeline)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any

import pytest
from google.cloud import storage

from tests.support.pipeline import Pipeline, StartPipeline, pipeline_running
from videojobs_cli.gcs_emulator import GcsEmulator


@pytest.fixture
async def start_stack(
    database_url: str, gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> AsyncIterator[StartPipeline]:
    """start(providers={...provider_settings kwargs}, replicas=1, storage_overrides={...}, **job settings)
    -> a running Pipeline."""
    async with AsyncExitStack() as exits:

        async def start(
            providers: Mapping[str, Any] | None = None,
            replicas: int = 1,
            storage_overrides: Mapping[str, Any] | None = None,
            **job_overrides: Any,
        ) -> Pipeline:
            pipeline = pipeline_running(
                database_url,
                gcs_emulator.url,
                gcs_bucket,
                providers=providers or {},
                replicas=replicas,
                storage_overrides=storage_overrides,
                **job_overrides,
            )
            return await exits.enter_async_context(pipeline)

        yield start

"""The orchestrator's stack fixture: the whole pipeline on loopback (tests.support.pipeline)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from google.cloud import storage

from provider_service.sim.server import SimProvider
from tests.support.pipeline import Pipeline, StartPipeline, pipeline_running
from tests.support.services import starting
from videojobs_cli.gcs_emulator import GcsEmulator


@pytest.fixture
async def start_stack(
    database_url: str, gcs_emulator: GcsEmulator, gcs_bucket: storage.Bucket
) -> AsyncIterator[StartPipeline]:
    """start(providers={...provider_settings kwargs}, replicas=1, storage_overrides={...}, **job settings)
    -> a running Pipeline."""

    def running(
        providers: Mapping[str, Any] | None = None, **options: Any
    ) -> AbstractAsyncContextManager[Pipeline]:
        return pipeline_running(
            database_url, gcs_emulator.url, gcs_bucket, providers=providers or {}, **options
        )

    async with starting(running) as start:
        yield start


@pytest.fixture
def start_sim_stack(start_stack: StartPipeline, sim_provider: SimProvider) -> StartPipeline:
    """start_stack with the sim provider alone behind provider_service: for the tests of what the pipeline
    does whatever the provider (sweeps, retention, thumbnails, errors)."""
    return functools.partial(start_stack, providers={"sim_url": sim_provider.public_url})

"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from google.cloud import storage

from tests.support.gcs import emulator_client, fresh_bucket
from tests.support.postgres import DatabaseFactory, server_url
from videojobs_cli import gcs_emulator as gcs_emulator_module
from videojobs_cli.gcs_emulator import GcsEmulator


@pytest.fixture(scope="session")
def database_factory(worker_id: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(url=server_url(), worker=worker_id.replace("gw", "w"))
    factory.prepare_template()
    yield factory
    factory.drop_template()


@pytest.fixture
async def database_url(database_factory: DatabaseFactory) -> AsyncIterator[str]:
    url = database_factory.create()
    yield url
    database_factory.drop(url)


@pytest.fixture(scope="session", autouse=True)
def _quiet_structlog() -> None:
    from videojobs.logs import configure_logging

    configure_logging(os.environ.get("TEST_LOG_LEVEL", "WARNING"))


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """One fake-gcs-server per xdist worker (in memory); tests isolate themselves with `gcs_bucket`."""
    with gcs_emulator_module.start() as emulator:
        yield emulator


@pytest.fixture
def gcs_client(gcs_emulator: GcsEmulator) -> storage.Client:
    return emulator_client(gcs_emulator.url)


@pytest.fixture
def gcs_bucket(gcs_client: storage.Client) -> storage.Bucket:
    return fresh_bucket(gcs_client)

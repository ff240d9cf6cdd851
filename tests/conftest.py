"""Fixtures shared by every test package: databases and the GCS emulator here, and the fixtures of the
plugins below (each service with its fakes). A test package's own conftest.py holds its stack fixture.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from google.cloud import storage

from tests.support.gcs import emulator_client, fresh_bucket
from tests.support.postgres import DatabaseFactory, Sql, run_sql, server_url
from videojobs_cli import gcs_emulator as gcs_emulator_module
from videojobs_cli.gcs_emulator import GcsEmulator

# Only the root conftest may name plugins; helpers stay importable from the same modules.
pytest_plugins = ["tests.support.providers", "tests.support.storage", "tests.support.tls"]


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


@pytest.fixture
def sql(database_url: str) -> Sql:
    """sql(query, params=None): run a statement against the test's database, to check what was (not)
    written or to age a row."""
    return functools.partial(run_sql, database_url)


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

"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.postgres import DatabaseFactory, server_url


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

"""A claim's lease renewed while its step runs (claim_loop.lease_kept with the real LeaseQueries.renew),
against the real Postgres: a step longer than its lease keeps the job from every other replica, and every
connection it used is back in the pool afterwards, however the step ended."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service import database
from job_service.claim_loop import lease_kept
from job_service.lease_queries import LeaseQueries, WorkItem
from tests.support.postgres import Sql

LEASE = 0.6


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(database_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


def _pending_job(sql: Sql) -> uuid.UUID:
    job_id = uuid.uuid4()
    spec = {"prompt": "a lighthouse", "image_uri": "", "duration_seconds": 0, "aspect_ratio": "16:9",
            "model": "", "providers": ["sim"]}  # fmt: skip
    sql(
        "INSERT INTO jobs (id, user_id, spec, state, quota_day, due_time) "
        "VALUES (%s, 'alice', %s, 'PENDING', current_date, now())",
        (job_id, Jsonb(spec)),
    )
    return job_id


async def _claim(leases: LeaseQueries) -> WorkItem:
    (item,) = await leases.claim(1, LEASE)
    return item


@pytest.fixture
async def other_replica(database_url: str) -> AsyncIterator[LeaseQueries]:
    engine = database.create_engine(database_url)
    yield LeaseQueries(engine)
    await engine.dispose()


async def test_a_step_longer_than_its_lease_keeps_the_job_from_other_replicas(
    engine: AsyncEngine, other_replica: LeaseQueries, sql: Sql
) -> None:
    job_id = _pending_job(sql)
    mine, other = LeaseQueries(engine), other_replica
    item = await _claim(mine)
    assert item.job.id == job_id
    async with lease_kept(lambda: mine.renew(item, LEASE), LEASE / 3):
        for _ in range(4):  # 2.4 s: four leases
            await asyncio.sleep(LEASE)
            assert await other.claim(1, LEASE) == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    # Without renewals the lease lapses, and another replica takes the job over.
    await asyncio.sleep(LEASE * 1.5)
    assert [taken.job.id for taken in await other.claim(1, LEASE)] == [job_id]


async def test_steps_cancelled_at_any_moment_return_every_connection(engine: AsyncEngine, sql: Sql) -> None:
    _pending_job(sql)
    leases = LeaseQueries(engine)
    item = await _claim(leases)
    shuffle = random.Random(7)

    async def step() -> None:
        async with lease_kept(lambda: leases.renew(item, LEASE), 0.001):
            await asyncio.sleep(10)

    for _ in range(60):
        task = asyncio.create_task(step())
        await asyncio.sleep(shuffle.uniform(0, 0.01))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]

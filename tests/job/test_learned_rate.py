"""The rate a provider's 429s teach (throttle_queries.py, read by limit_queries.py) against the real
Postgres: what it accepted in the window of a 429, the least of a burst's 429s, a step up after a quiet
spell only while the rate is in use, and the spell doubling when a step up met a 429."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service import database
from job_service.limit_queries import LimitQueries
from job_service.limits import FIRST_PROBE_WINDOWS
from job_service.throttle_queries import ThrottleQueries
from tests.support.postgres import Sql


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def limits(engine: AsyncEngine) -> LimitQueries:
    return LimitQueries(engine, [], window_seconds=60.0)


@pytest.fixture
def throttles(engine: AsyncEngine) -> ThrottleQueries:
    return ThrottleQueries(engine, window_seconds=60.0)


def _submits(sql: Sql, count: int, seconds_ago: float = 5.0) -> list[uuid.UUID]:
    """`count` submissions to runway counted in the window, one job each."""
    jobs = [uuid.uuid4() for _ in range(count)]
    for job in jobs:
        sql(
            "INSERT INTO provider_submits (provider, job_id, submit_time) "
            "VALUES ('runway', %s, now() - make_interval(secs => %s))",
            (job, seconds_ago),
        )
    return jobs


def _backoff(sql: Sql) -> tuple[int, int]:
    (row,) = sql("SELECT learned_rate, probe_windows FROM provider_backoff WHERE provider = 'runway'")
    return int(row[0]), int(row[1])


def _age(sql: Sql, windows: float) -> None:
    """Move runway's last 429 and rate change `windows` limits windows into the past."""
    sql(
        "UPDATE provider_backoff SET rate_time = rate_time - make_interval(secs => %s), "
        "last_throttle = last_throttle - make_interval(secs => %s), not_before = now()",
        (windows * 60, windows * 60),
    )


async def test_a_429_learns_what_the_provider_accepted_in_its_window(
    limits: LimitQueries, throttles: ThrottleQueries, sql: Sql
) -> None:
    _submits(sql, 3, seconds_ago=90)  # before the window: not counted
    accepted = _submits(sql, 10)
    refused = _submits(sql, 3, seconds_ago=1)

    # A burst of 429s settles on the count before it: each refused submission leaves the count.
    await throttles.throttled("runway", refused[0], 1.0, 1.0)
    assert _backoff(sql) == (12, FIRST_PROBE_WINDOWS)
    for job in refused[1:]:
        await throttles.throttled("runway", job, 1.0, 1.0)
    assert _backoff(sql) == (10, FIRST_PROBE_WINDOWS)
    window = "SELECT count(*) FROM provider_submits WHERE submit_time > now() - interval '60 seconds'"
    assert sql(window) == [(10,)]

    # It caps the provider like a configured rate: the window is full.
    (queue,) = await limits.queue_stats(["runway"])
    assert queue.learned_submits_per_minute == 10
    assert "runway: rate" in queue.blocked

    # A 429 past the time it holds the provider back (the job moves on) leaves the count all the same.
    await throttles.refused("runway", accepted[-1])
    assert sql(window) == [(9,)]
    _submits(sql, 1)

    # A later 429 with fewer accepted (a dip) lowers it, never raises it; at least 1.
    sql("DELETE FROM provider_submits WHERE job_id = ANY(%s)", (accepted[:7],))
    await throttles.throttled("runway", uuid.uuid4(), 1.0, 1.0)
    assert _backoff(sql)[0] == 3
    sql("DELETE FROM provider_submits")
    await throttles.throttled("runway", uuid.uuid4(), 1.0, 1.0)
    assert _backoff(sql)[0] == 1


async def test_the_learned_rate_steps_up_after_a_quiet_spell_while_in_use(
    limits: LimitQueries, throttles: ThrottleQueries, sql: Sql
) -> None:
    _submits(sql, 4)
    await throttles.throttled("runway", uuid.uuid4(), 1.0, 1.0)
    assert _backoff(sql) == (4, FIRST_PROBE_WINDOWS)

    # Not yet a quiet spell: no step.
    _age(sql, FIRST_PROBE_WINDOWS - 0.5)
    await limits.claim_waiting(1, 30.0)
    assert _backoff(sql) == (4, FIRST_PROBE_WINDOWS)

    # A quiet spell with the rate in use: one step up.
    _age(sql, 1)
    await limits.claim_waiting(1, 30.0)
    assert _backoff(sql) == (5, FIRST_PROBE_WINDOWS)

    # Not in use (the window holds fewer than the rate): it stays, however long.
    _age(sql, 1000)
    await limits.claim_waiting(1, 30.0)
    assert _backoff(sql) == (5, FIRST_PROBE_WINDOWS)

    # In use again: a step up; the one before met no 429, so the next spell is half as long.
    _submits(sql, 1)
    await limits.claim_waiting(1, 30.0)
    assert _backoff(sql) == (6, FIRST_PROBE_WINDOWS // 2)

    # A 429 within a window of a step up: that step was one too many, the next waits twice as long.
    await throttles.throttled("runway", uuid.uuid4(), 1.0, 1.0)
    assert _backoff(sql) == (5, FIRST_PROBE_WINDOWS)
    # A 429 not right after a step up leaves the spell as it is.
    _age(sql, 2)
    await throttles.throttled("runway", uuid.uuid4(), 1.0, 1.0)
    assert _backoff(sql) == (5, FIRST_PROBE_WINDOWS)

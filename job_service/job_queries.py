"""All SQL of job_service. Callers get domain values; SQLAlchemy never leaves this module."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import exc, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.domain import ACTIVE_STATES, Job, JobError, JobState, Limits, NewJob, VideoInfo, VideoSpec
from job_service.queries import CREATE_JOB, USAGE
from job_service.tables import api_keys, jobs, quota_usage
from videojobs.errors import Unavailable

_ACTIVE = [state.value for state in ACTIVE_STATES]
_P = ParamSpec("_P")
_R = TypeVar("_R")

# How long a client should wait before retrying when the database is briefly out of reach.
DATABASE_RETRY_SECONDS = 1.0


def database_errors(method: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """The one place driver errors become domain errors: trouble reaching or using the database is
    transient (UNAVAILABLE + RetryInfo); anything else is a bug and stays an exception."""

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except (
            exc.OperationalError,
            exc.TimeoutError,
            exc.InterfaceError,
            psycopg.OperationalError,
            psycopg.InterfaceError,
            PoolTimeout,
        ) as error:
            raise Unavailable(
                "the job database is unavailable; retry shortly",
                reason="DATABASE_UNAVAILABLE",
                retry_after=DATABASE_RETRY_SECONDS,
            ) from error

    return wrapper


async def refund(conn: AsyncConnection, user_id: str, day: date) -> None:
    """Give back the quota unit a job took on `day` (never below zero)."""
    await conn.execute(
        update(quota_usage)
        .where(quota_usage.c.user_id == user_id, quota_usage.c.day == day, quota_usage.c.used > 0)
        .values(used=quota_usage.c.used - 1)
    )


class DailyLimitReached(Exception):
    def __init__(self, used: int) -> None:
        self.used = used


class ActiveLimitReached(Exception):
    def __init__(self, active: int) -> None:
        self.active = active


@dataclass(frozen=True)
class CreateOutcome:
    job: Job
    created: bool


@dataclass(frozen=True)
class Cursor:
    """Keyset position in the newest-first listing."""

    create_time: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class ApiKeyOwner:
    user_id: str
    role: str


class JobRepository:
    def __init__(self, engine: AsyncEngine, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]) -> None:
        self._engine = engine
        self._pool = pool
        # Single statements need no BEGIN/ROLLBACK round trips around them.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def create_job(self, new: NewJob, limits: Limits) -> CreateOutcome:
        """Insert the job, or return the one already made with the same key; take a quota unit atomically.

        Raises DailyLimitReached / ActiveLimitReached, in which case nothing was written.
        """
        params = {
            "id": new.id,
            "user_id": new.user_id,
            "client_request_id": new.client_request_id,
            "spec": Jsonb(new.spec.to_json()),
            "day": new.quota_day,
            "daily_limit": limits.daily_limit,
            "max_active": limits.max_active,
        }
        async with self._pool.connection() as conn, conn.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(CREATE_JOB, params, prepare=True)
            fetched = await cursor.fetchone()
        assert fetched is not None
        row: Any = fetched  # a namedtuple of the statement's columns
        if row.outcome == "daily_limit":
            raise DailyLimitReached(row.used)
        if row.outcome == "active_limit":
            raise ActiveLimitReached(row.active)
        return CreateOutcome(job_from_row(row), created=row.outcome == "created")

    @database_errors
    async def get_job(self, user_id: str, job_id: uuid.UUID) -> Job | None:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    select(jobs).where(
                        jobs.c.id == job_id, jobs.c.user_id == user_id, jobs.c.deleted_time.is_(None)
                    )
                )
            ).first()
        return job_from_row(row) if row else None

    @database_errors
    async def list_jobs(
        self, user_id: str, states: Collection[JobState], after: Cursor | None, limit: int
    ) -> list[Job]:
        query = select(jobs).where(jobs.c.user_id == user_id, jobs.c.deleted_time.is_(None))
        if states:
            query = query.where(jobs.c.state.in_([state.value for state in states]))
        if after is not None:
            query = query.where(tuple_(jobs.c.create_time, jobs.c.id) < tuple_(after.create_time, after.id))
        query = query.order_by(jobs.c.create_time.desc(), jobs.c.id.desc()).limit(limit)
        async with self._autocommit.connect() as conn:
            return [job_from_row(row) for row in await conn.execute(query)]

    @database_errors
    async def usage(self, user_id: str, day: date) -> tuple[int, int]:
        """(units used on day, active jobs) for one user."""
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(USAGE, {"user_id": user_id, "day": day})).one()
        return int(row.used), int(row.active)

    @database_errors
    async def reset_usage(self, user_id: str, day: date) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                quota_usage.delete().where(quota_usage.c.user_id == user_id, quota_usage.c.day == day)
            )


class ApiKeyStore:
    """API keys (hashes only). Apart from jobs: the CLI and the gateway's benchmark mint keys with it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def add_api_key(self, key_hash: str, prefix: str, user_id: str, role: str) -> uuid.UUID:
        key_id = uuid.uuid4()
        async with self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key_id, user_id=user_id, role=role, key_hash=key_hash, prefix=prefix
                )
            )
        return key_id

    @database_errors
    async def api_key_owner(self, key_hash: str) -> ApiKeyOwner | None:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.user_id, api_keys.c.role).where(
                        api_keys.c.key_hash == key_hash, api_keys.c.revoked_time.is_(None)
                    )
                )
            ).first()
        return ApiKeyOwner(row.user_id, row.role) if row else None


def job_from_row(row: Any) -> Job:
    error = row.error
    video = row.video
    return Job(
        id=row.id,
        user_id=row.user_id,
        client_request_id=row.client_request_id,
        spec=VideoSpec.from_json(row.spec),
        state=JobState(row.state),
        attempt=row.attempt,
        provider=row.provider,
        provider_job_id=row.provider_job_id,
        video_uri=row.video_uri,
        thumbnail_uri=row.thumbnail_uri,
        video=VideoInfo(**video) if video else None,
        error=JobError(**{**error, "violation_reasons": tuple(error.get("violation_reasons", ()))})
        if error
        else None,
        create_time=row.create_time,
        update_time=row.update_time,
        end_time=row.end_time,
    )

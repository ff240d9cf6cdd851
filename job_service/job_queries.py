"""The SQL of the JobService API: create (with quota), get, list, cancel, retry, hide, quota usage, webhook
news, and the event history. Callers get domain values; SQLAlchemy never leaves the query modules.

The worker's claims, leases and step writes are in lease_queries.py; API keys in key_queries.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Row, Select, Text, and_, bindparam, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.database import database_errors
from job_service.domain import (
    CreateOutcome,
    CreateReason,
    Cursor,
    Job,
    JobEvent,
    JobFilter,
    JobState,
    Limits,
    NewJob,
)
from job_service.tables import ACTIVE_STATES_SQL, job_events, job_from_row, jobs, quota_usage
from videojobs.contract import ACTIVE_JOB_STATES

_ACTIVE = [state.value for state in ACTIVE_JOB_STATES]

# The create_job() function (migrations 0001, 0002, 0006) does CreateJob atomically in one round trip. It
# runs on the driver pool, prepared, returning only what a Job needs: it is the one statement on the hot path.
JOB_COLUMNS = (
    "id", "user_id", "client_request_id", "spec", "state", "attempt", "provider", "provider_job_id",
    "video_uri", "thumbnail_uri", "video", "error", "effective", "create_time", "update_time", "end_time",
    "waiting_for",
)  # fmt: skip
CREATE_JOB = f"""
    SELECT r.outcome, r.used, r.active, {", ".join(f"(r.job).{column}" for column in JOB_COLUMNS)}
    FROM create_job(
        %(id)s::uuid, %(user_id)s::text, %(client_request_id)s::text, %(spec)s::jsonb,
        %(day)s::date, %(daily_limit)s::integer, %(max_active)s::integer,
        %(allow_duplicate)s::boolean, %(dedupe_window_seconds)s::integer
    ) AS r
"""

USAGE = text(
    f"""
    SELECT
        coalesce((SELECT used FROM quota_usage WHERE user_id = :user_id AND day = :day), 0) AS used,
        (SELECT count(*) FROM jobs WHERE user_id = :user_id AND state IN ({ACTIVE_STATES_SQL})) AS active
    """
)

# The retry_job() function (migration 0002) restarts a job and takes a quota unit under the same rules
# (and the same per-user lock) as create_job().
RETRY_JOB = text(
    """
    SELECT r.outcome, r.used, r.active, (r.job).*
    FROM retry_job(CAST(:id AS uuid), CAST(:user_id AS text), CAST(:day AS date),
                   CAST(:daily_limit AS integer), CAST(:max_active AS integer)) AS r
    """
)


async def refund_quota(conn: AsyncConnection, user_id: str, day: date) -> None:
    """Give back the quota unit a job took on `day` (never below zero)."""
    await conn.execute(
        update(quota_usage)
        .where(quota_usage.c.user_id == user_id, quota_usage.c.day == day, quota_usage.c.used > 0)
        .values(used=quota_usage.c.used - 1)
    )


async def add_event(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    event_type: str,
    state: JobState,
    *,
    message: str,
    detail: dict[str, Any],
) -> None:
    """Add an event to the job's history, in the caller's transaction (with the change it records)."""
    await conn.execute(
        job_events.insert().values(
            job_id=job_id, type=event_type, state=state.value, message=message, detail=detail
        )
    )


class DailyLimitReached(Exception):
    def __init__(self, used: int) -> None:
        self.used = used


class ActiveLimitReached(Exception):
    def __init__(self, active: int) -> None:
        self.active = active


@dataclass(frozen=True)
class Cancelled:
    job: Job
    previous_state: JobState


@dataclass(frozen=True)
class RetryOutcome:
    outcome: str
    used: int
    active: int
    job: Job | None


class JobQueries:
    def __init__(self, engine: AsyncEngine, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]) -> None:
        self._engine = engine
        self._pool = pool
        # Single statements need no BEGIN/ROLLBACK round trips around them.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def create_job(self, new: NewJob, limits: Limits, dedupe_window_seconds: int) -> CreateOutcome:
        """Insert the job, or return the one already made with the same key (or, without a key, the same
        spec, unless `new.allow_duplicate`); take a quota unit atomically.

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
            "allow_duplicate": new.allow_duplicate,
            "dedupe_window_seconds": dedupe_window_seconds,
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
        return CreateOutcome(job_from_row(row), CreateReason(row.outcome))

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
        return await self._newest_first(query, after, limit)

    @database_errors
    async def admin_list_jobs(self, wanted: JobFilter, after: Cursor | None, limit: int) -> list[Job]:
        """Every user's visible jobs that match, newest first (the admin listing)."""
        query = select(jobs).where(jobs.c.deleted_time.is_(None))
        if wanted.user_id:
            query = query.where(jobs.c.user_id == wanted.user_id)
        if wanted.states:
            query = query.where(jobs.c.state.in_([state.value for state in wanted.states]))
        if wanted.provider:
            query = query.where(jobs.c.provider == wanted.provider)
        if wanted.since is not None:
            query = query.where(jobs.c.create_time >= wanted.since)
        return await self._newest_first(query, after, limit)

    async def _newest_first(self, query: Select[Any], after: Cursor | None, limit: int) -> list[Job]:
        """A page of the jobs `query` selects, newest first, beginning after the cursor's job."""
        if after is not None:
            query = query.where(tuple_(jobs.c.create_time, jobs.c.id) < tuple_(after.create_time, after.id))
        query = query.order_by(jobs.c.create_time.desc(), jobs.c.id.desc()).limit(limit)
        async with self._autocommit.connect() as conn:
            return [job_from_row(row) for row in await conn.execute(query)]

    @database_errors
    async def job_owner(self, job_id: uuid.UUID) -> str | None:
        """Whose visible job this is (None: no such job), for admin calls that act as its owner would."""
        async with self._autocommit.connect() as conn:
            owner = await conn.scalar(
                select(jobs.c.user_id).where(jobs.c.id == job_id, jobs.c.deleted_time.is_(None))
            )
        return str(owner) if owner is not None else None

    @database_errors
    async def cancel(self, user_id: str, job_id: uuid.UUID) -> Cancelled | None:
        """Cancel a non-terminal job of this user, whatever step it is in. A job no provider has seen
        (PENDING) gets its quota unit back. Clearing the lease makes any worker's next write fail."""
        previous = select(jobs.c.id, jobs.c.state).where(
            jobs.c.id == job_id,
            jobs.c.user_id == user_id,
            jobs.c.deleted_time.is_(None),
            jobs.c.state.in_(_ACTIVE),
        )
        async with self._engine.begin() as conn:
            before = (await conn.execute(previous.with_for_update())).first()
            if before is None:
                return None
            row = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(
                        state=JobState.CANCELLED.value,
                        end_time=func.now(),
                        due_time=None,
                        locked_until=None,
                        lease_token=None,
                        waiting_for=None,
                        peer_waits=0,
                    )
                    .returning(*jobs.c)
                )
            ).one()
            if before.state == JobState.PENDING.value:
                await refund_quota(conn, user_id, row.quota_day)
            await add_event(
                conn,
                job_id,
                "cancelled",
                JobState.CANCELLED,
                message="cancelled by user",
                detail={"previous_state": before.state},
            )
        return Cancelled(job_from_row(row), JobState(before.state))

    @database_errors
    async def retry(self, user_id: str, job_id: uuid.UUID, day: date, limits: Limits) -> RetryOutcome:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    RETRY_JOB,
                    {
                        "id": job_id,
                        "user_id": user_id,
                        "day": day,
                        "daily_limit": limits.daily_limit,
                        "max_active": limits.max_active,
                    },
                )
            ).one()
        job = job_from_row(row) if row.id is not None else None
        return RetryOutcome(row.outcome, row.used or 0, row.active or 0, job)

    @database_errors
    async def hide(self, user_id: str, job_id: uuid.UUID) -> bool:
        """DeleteJob's last step: the job leaves every listing (its history stays for audit)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.user_id == user_id, jobs.c.deleted_time.is_(None))
                .values(deleted_time=func.now(), video_uri=None, thumbnail_uri=None)
            )
        return bool(result.rowcount)

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

    @database_errors
    async def record_provider_news(
        self, provider: str, provider_job_id: str, news: Mapping[str, Any]
    ) -> uuid.UUID | None:
        """Keep a webhook's status for the next PROCESSING step and make the job due now.

        Only a PROCESSING job takes news (later steps already know the outcome); the same news twice
        records nothing new. The news keeps `seen_time`, when it arrived. Returns the job id when the news
        was recorded.
        """
        news_param = bindparam("news", value=dict(news), type_=JSONB)
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.provider == provider,
                        jobs.c.provider_job_id == provider_job_id,
                        jobs.c.state == JobState.PROCESSING.value,
                        # Compared without seen_time, which every webhook's news gets anew.
                        jobs.c.provider_news.op("-")(literal("seen_time", Text)).is_distinct_from(news_param),
                    )
                    # When we learnt it, for the completion lag metric (metrics.py).
                    .values(
                        provider_news=news_param.op("||")(func.jsonb_build_object("seen_time", func.now())),
                        due_time=func.now(),
                    )
                    .returning(jobs.c.id)
                )
            ).first()
            if row is None:
                return None
            await add_event(
                conn,
                row.id,
                "provider_event",
                JobState.PROCESSING,
                message=f"{provider} reported {news.get('state', '')}",
                detail={"provider_state": news.get("state", "")},
            )
        return uuid.UUID(str(row.id))

    @database_errors
    async def events_after(self, job_id: uuid.UUID, after: int) -> list[JobEvent]:
        """The job's events after sequence `after`, oldest first, each with the job as it is now."""
        query = (
            select(job_events, jobs)
            .join(jobs, jobs.c.id == job_events.c.job_id)
            .where(and_(job_events.c.job_id == job_id, job_events.c.id > after))
            .order_by(job_events.c.id)
        )
        async with self._autocommit.connect() as conn:
            return [_event(row) for row in await conn.execute(query)]

    @database_errors
    async def last_sequence(self, job_id: uuid.UUID) -> int:
        async with self._autocommit.connect() as conn:
            value = await conn.scalar(select(func.max(job_events.c.id)).where(job_events.c.job_id == job_id))
        return int(value or 0)


def _event(row: Row[Any]) -> JobEvent:
    mapping = row._mapping
    job_row = {column.name: mapping[column] for column in jobs.c}
    return JobEvent(
        sequence=mapping[job_events.c.id],
        job_id=mapping[job_events.c.job_id],
        type=mapping[job_events.c.type],
        state=JobState(mapping[job_events.c.state]),
        message=mapping[job_events.c.message],
        create_time=mapping[job_events.c.create_time],
        job=job_from_row(SimpleNamespace(**job_row)),
    )

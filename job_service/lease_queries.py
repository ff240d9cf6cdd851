"""SQL of the orchestrator: claims with SKIP LOCKED, leases, compare-and-set transitions, and events.

A claim gives each job a fresh `lease_token`. Every later write for that claim is conditioned on the token
(and on the state the step expects), so a worker whose lease lapsed, and was replaced, can no longer
change anything: the step is applied once, by whoever still holds the job. Why leases and not advisory
locks: docs/decisions/0002-leases-over-advisory-locks.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.domain import ACTIVE_STATES, Job, JobEvent, JobState, Limits
from job_service.job_queries import database_errors, job_from_row, refund
from job_service.tables import job_events, jobs

_ACTIVE = [state.value for state in ACTIVE_STATES]

CLAIM = text(
    """
    UPDATE jobs SET locked_until = now() + make_interval(secs => :lease), lease_token = gen_random_uuid()
    WHERE id IN (
        SELECT id FROM jobs
        WHERE due_time <= now() AND (locked_until IS NULL OR locked_until < now())
        ORDER BY due_time
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING *
    """
)

RETRY_JOB = text(
    """
    SELECT r.outcome, r.used, r.active, (r.job).*
    FROM retry_job(CAST(:id AS uuid), CAST(:user_id AS text), CAST(:day AS date),
                   CAST(:daily_limit AS integer), CAST(:max_active AS integer)) AS r
    """
)


@dataclass(frozen=True)
class WorkItem:
    """A claimed job and the orchestration state that only the worker reads."""

    job: Job
    token: uuid.UUID
    quota_day: date
    attempt_time: datetime
    provider_index: int
    step_attempts: int
    unknown_submits: int
    poll_count: int
    provider_result: Mapping[str, Any] | None
    provider_news: Mapping[str, Any] | None

    @property
    def provider(self) -> str:
        return self.job.spec.providers[self.provider_index]


def _item(row: Row[Any]) -> WorkItem:
    return WorkItem(
        job=job_from_row(row),
        token=row.lease_token,
        quota_day=row.quota_day,
        attempt_time=row.attempt_time,
        provider_index=row.provider_index,
        step_attempts=row.step_attempts,
        unknown_submits=row.unknown_submits,
        poll_count=row.poll_count,
        provider_result=row.provider_result,
        provider_news=row.provider_news,
    )


@dataclass(frozen=True)
class Transition:
    """What one step decided. `state` may equal the current state (e.g. poll again later).

    due_in: seconds until the job is due again; None for terminal states (no longer scheduled).
    keep_lease: the same worker goes on with the job right away (e.g. PENDING -> SUBMITTING -> submit).
    event: the job_events type to record, or None for a reschedule that changes nothing users see.
    """

    state: JobState
    values: Mapping[str, Any] = field(default_factory=dict)
    due_in: float | None = 0.0
    keep_lease: bool = False
    event: str | None = None
    message: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    refund: bool = False


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


class WorkRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def claim(self, limit: int, lease_seconds: float) -> list[WorkItem]:
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(CLAIM, {"limit": limit, "lease": lease_seconds})
            return [_item(row) for row in rows]

    @database_errors
    async def renew(self, item: WorkItem, lease_seconds: float) -> bool:
        async with self._autocommit.connect() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == item.job.id, jobs.c.lease_token == item.token)
                .values(locked_until=func.now() + timedelta(seconds=lease_seconds))
            )
        return bool(result.rowcount)

    @database_errors
    async def apply(self, item: WorkItem, transition: Transition) -> WorkItem | None:
        """Compare-and-set from the claimed state; the updated item, or None if the claim was lost
        (lease lapsed and taken over, or the job was cancelled meanwhile)."""
        values: dict[str, Any] = dict(transition.values)
        values["state"] = transition.state.value
        if transition.due_in is None:
            values["due_time"] = None
        else:
            values["due_time"] = func.now() + timedelta(seconds=transition.due_in)
        if not transition.keep_lease:
            values.update(locked_until=None, lease_token=None)
        if transition.state.terminal:
            values["end_time"] = func.now()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.id == item.job.id,
                        jobs.c.lease_token == item.token,
                        jobs.c.state == item.job.state.value,
                    )
                    .values(**values)
                    .returning(*jobs.c)
                )
            ).first()
            if row is None:
                return None
            if transition.refund:
                await refund(conn, row.user_id, row.quota_day)
            if transition.event is not None:
                await conn.execute(
                    job_events.insert().values(
                        job_id=item.job.id,
                        type=transition.event,
                        state=transition.state.value,
                        message=transition.message,
                        detail=dict(transition.detail),
                    )
                )
        return _item(row)

    @database_errors
    async def current(self, job_id: uuid.UUID) -> Job | None:
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return job_from_row(row) if row else None

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
                    )
                    .returning(*jobs.c)
                )
            ).one()
            if before.state == JobState.PENDING.value:
                await refund(conn, user_id, row.quota_day)
            await conn.execute(
                job_events.insert().values(
                    job_id=job_id,
                    type="cancelled",
                    state=JobState.CANCELLED.value,
                    message="cancelled by user",
                    detail={"previous_state": before.state},
                )
            )
        return Cancelled(job_from_row(row), JobState(before.state))

    @database_errors
    async def record_provider_news(
        self, provider: str, provider_job_id: str, news: Mapping[str, Any]
    ) -> uuid.UUID | None:
        """Keep a webhook's status for the next PROCESSING step and make the job due now.

        Only a PROCESSING job takes news (later steps already know the outcome); the same news twice
        records nothing new. Returns the job id when the news was recorded.
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
                        jobs.c.provider_news.is_distinct_from(news_param),
                    )
                    .values(provider_news=news_param, due_time=func.now())
                    .returning(jobs.c.id, jobs.c.state)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                job_events.insert().values(
                    job_id=row.id,
                    type="provider_event",
                    state=row.state,
                    message=f"{provider} reported {news.get('state', '')}",
                    detail={"provider_state": news.get("state", "")},
                )
            )
        return uuid.UUID(str(row.id))

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

"""The SQL of upkeep, apart from the API's and the worker's: which jobs the bucket's objects belong to and
the stored videos of live jobs (the orphan sweep), jobs past retention or purge age, and the advisory lock
that lets one replica at a time run a periodic task."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.domain import JobState
from job_service.job_queries import add_event
from job_service.tables import jobs, webhook_endpoints
from videojobs.contract import TERMINAL_JOB_STATES


@dataclass(frozen=True)
class JobOutputs:
    """What the sweep needs to know of a job that objects in the bucket are named after."""

    id: uuid.UUID
    user_id: str
    state: JobState
    deleted: bool
    video_uri: str | None
    thumbnail_uri: str | None


class MaintenanceQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def job_outputs(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, JobOutputs]:
        if not ids:
            return {}
        query = select(
            jobs.c.id,
            jobs.c.user_id,
            jobs.c.state,
            jobs.c.deleted_time,
            jobs.c.video_uri,
            jobs.c.thumbnail_uri,
        ).where(jobs.c.id.in_(list(ids)))
        async with self._autocommit.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {
            row.id: JobOutputs(
                row.id,
                row.user_id,
                JobState(row.state),
                row.deleted_time is not None,
                row.video_uri,
                row.thumbnail_uri,
            )
            for row in rows
        }

    @database_errors
    async def completed_videos(self, after: uuid.UUID | None, limit: int) -> list[tuple[uuid.UUID, str]]:
        """(job id, video uri) of live COMPLETED jobs, in id order after `after`: one batch of many."""
        query = (
            select(jobs.c.id, jobs.c.video_uri)
            .where(
                jobs.c.state == JobState.COMPLETED.value,
                jobs.c.deleted_time.is_(None),
                jobs.c.video_uri.is_not(None),
            )
            .order_by(jobs.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(jobs.c.id > after)
        async with self._autocommit.connect() as conn:
            return [(row.id, row.video_uri) for row in (await conn.execute(query)).all()]

    @asynccontextmanager
    async def exclusive(self, lock_id: int) -> AsyncIterator[bool]:
        """Yields whether this process holds the session-level advisory lock `lock_id` (never waits).

        The lock lives as long as the connection: a replica that dies mid-run releases it with its
        connection, so no run is ever stuck behind a dead holder."""
        async with self._autocommit.connect() as conn:
            held = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id})).scalar()
            )
            try:
                yield held
            finally:
                if held:
                    await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})


@dataclass(frozen=True)
class ExpiringJob:
    id: uuid.UUID
    user_id: str
    state: JobState
    end_time: datetime
    uris: tuple[str, ...]


class RetentionQueries:
    """Finished jobs past retention (their outputs are deleted and they are hidden, like DeleteJob), and
    hidden jobs past the purge age (their rows and events are deleted)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def expiring(self, older_than: timedelta, limit: int) -> list[ExpiringJob]:
        """The oldest visible finished jobs that ended more than `older_than` ago."""
        query = (
            select(
                jobs.c.id,
                jobs.c.user_id,
                jobs.c.state,
                jobs.c.end_time,
                jobs.c.video_uri,
                jobs.c.thumbnail_uri,
            )
            .where(
                jobs.c.deleted_time.is_(None),
                jobs.c.state.in_([state.value for state in TERMINAL_JOB_STATES]),
                jobs.c.end_time < func.now() - older_than,
            )
            .order_by(jobs.c.end_time, jobs.c.id)
            .limit(limit)
        )
        async with self._autocommit.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ExpiringJob(
                row.id,
                row.user_id,
                JobState(row.state),
                row.end_time,
                tuple(uri for uri in (row.video_uri, row.thumbnail_uri) if uri),
            )
            for row in rows
        ]

    @database_errors
    async def mark_expired(self, expired: Sequence[ExpiringJob], retention_days: float) -> int:
        """Hide the jobs (no URLs) with an `expired` event each, unless they changed since they were read
        (a retried job is not expired). Returns how many were hidden."""
        hidden = 0
        async with self._engine.begin() as conn:
            for job in expired:
                row = (
                    await conn.execute(
                        update(jobs)
                        .where(
                            jobs.c.id == job.id,
                            jobs.c.deleted_time.is_(None),
                            jobs.c.state == job.state.value,
                            jobs.c.end_time == job.end_time,
                        )
                        .values(deleted_time=func.now(), video_uri=None, thumbnail_uri=None)
                        .returning(jobs.c.id)
                    )
                ).first()
                if row is None:
                    continue
                hidden += 1
                await add_event(
                    conn,
                    job.id,
                    "expired",
                    job.state,
                    message=f"outputs deleted after the {retention_days:g}-day retention period",
                    detail={"deleted": list(job.uris)},
                )
        return hidden

    @database_errors
    async def purgeable(self, older_than: timedelta, limit: int) -> list[uuid.UUID]:
        """Hidden (deleted or expired) jobs hidden more than `older_than` ago."""
        query = (
            select(jobs.c.id)
            .where(jobs.c.deleted_time < func.now() - older_than)
            .order_by(jobs.c.deleted_time, jobs.c.id)
            .limit(limit)
        )
        async with self._autocommit.connect() as conn:
            return [row.id for row in (await conn.execute(query)).all()]

    @database_errors
    async def purge(self, ids: Sequence[uuid.UUID]) -> int:
        """Delete the rows (their events and deliveries go with them: ON DELETE CASCADE), and the one-off
        webhook endpoints their creates named, which no foreign key ties to the job (migration 0008)."""
        if not ids:
            return 0
        async with self._engine.begin() as conn:
            purged = (
                (
                    await conn.execute(
                        delete(jobs)
                        .where(jobs.c.id.in_(list(ids)), jobs.c.deleted_time.is_not(None))
                        .returning(jobs.c.id)
                    )
                )
                .scalars()
                .all()
            )
            if purged:
                await conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.job_id.in_(purged)))
        return len(purged)


@dataclass(frozen=True)
class MissingThumbnail:
    """A live COMPLETED job that has its video and no thumbnail."""

    id: uuid.UUID
    user_id: str
    video_uri: str
    end_time: datetime
    attempts: int
    error: str | None


_MISSING_THUMBNAIL = (
    jobs.c.state == JobState.COMPLETED.value,
    jobs.c.thumbnail_uri.is_(None),
    jobs.c.video_uri.is_not(None),
    jobs.c.deleted_time.is_(None),
)


class ThumbnailQueries:
    """The thumbnail backfill's reads and writes (the partial index ix_jobs_missing_thumbnail serves them)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def missing(self, limit: int, *, max_attempts: int | None = None) -> list[MissingThumbnail]:
        """The oldest such jobs; with `max_attempts`, only those tried fewer times than that."""
        query = (
            select(
                jobs.c.id,
                jobs.c.user_id,
                jobs.c.video_uri,
                jobs.c.end_time,
                jobs.c.thumbnail_attempts,
                jobs.c.thumbnail_error,
            )
            .where(*_MISSING_THUMBNAIL)
            .order_by(jobs.c.end_time, jobs.c.id)
            .limit(limit)
        )
        if max_attempts is not None:
            query = query.where(jobs.c.thumbnail_attempts < max_attempts)
        async with self._autocommit.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            MissingThumbnail(
                row.id, row.user_id, row.video_uri, row.end_time, row.thumbnail_attempts, row.thumbnail_error
            )
            for row in rows
        ]

    @database_errors
    async def record(self, job: MissingThumbnail, thumbnail_uri: str) -> bool:
        """Give the job its thumbnail, with a `thumbnail_added` event, unless it changed since it was read
        (deleted, expired, retried, or given one meanwhile). Whether it was recorded."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job.id, jobs.c.video_uri == job.video_uri, *_MISSING_THUMBNAIL)
                    .values(thumbnail_uri=thumbnail_uri, thumbnail_error=None)
                    .returning(jobs.c.id)
                )
            ).first()
            if row is None:
                return False
            await add_event(
                conn,
                job.id,
                "thumbnail_added",
                JobState.COMPLETED,
                message="thumbnail made after the job completed",
                detail={"thumbnail_uri": thumbnail_uri, "attempts": job.attempts + 1},
            )
        return True

    @database_errors
    async def failed(self, job: MissingThumbnail, error: str) -> None:
        """Count one more failed try and keep its error."""
        async with self._autocommit.connect() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, *_MISSING_THUMBNAIL)
                .values(thumbnail_attempts=jobs.c.thumbnail_attempts + 1, thumbnail_error=error)
            )

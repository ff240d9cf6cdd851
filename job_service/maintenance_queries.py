"""The SQL of upkeep (the orphan sweep), apart from the API's and the worker's: which jobs the bucket's
objects belong to, the stored videos of live jobs, and the advisory lock that lets one replica at a time
run a periodic task."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.domain import JobState
from job_service.tables import jobs


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

"""The SQL of the duplicate clean-up (`videojobs admin duplicates`): which users have jobs, their groups of
same-spec jobs, and provider job ids used by more than one job. Reads only; removing a duplicate goes
through the same cancel and delete as the API (jobs.Jobs)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.domain import JobState
from videojobs.attributes import from_attributes


@dataclass(frozen=True)
class GroupMember:
    """A job of a duplicate group: enough to choose the one to keep and to remove the others."""

    group: tuple[str, str, int]  # (user_id, spec_fingerprint, group number): one group
    id: uuid.UUID
    user_id: str
    state: JobState
    create_time: datetime
    provider: str | None
    provider_job_id: str | None
    video_uri: str | None
    thumbnail_uri: str | None
    prompt: str


@dataclass(frozen=True)
class SharedProviderJob:
    provider: str
    provider_job_id: str
    job_ids: tuple[uuid.UUID, ...]


USERS_AFTER = text(
    """
    SELECT DISTINCT user_id FROM jobs
    WHERE deleted_time IS NULL AND (CAST(:after AS text) IS NULL OR user_id > :after)
    ORDER BY user_id LIMIT :limit
    """
)
USER_COUNT = text("SELECT count(DISTINCT user_id) FROM jobs WHERE deleted_time IS NULL")

# A group: one user's jobs with the same fingerprint, each created within `window` of the one before it.
# Chained rather than anchored on the first job, so removing a group's extras can never join what is left
# to another group: a second run finds nothing. Jobs created with allow_duplicate are the user's own choice
# and are left out.
GROUPS_OF_USERS = text(
    """
    WITH ordered AS (
        SELECT id, user_id, spec_fingerprint, state, create_time, provider, provider_job_id,
               video_uri, thumbnail_uri, spec->>'prompt' AS prompt,
               create_time - lag(create_time) OVER same_spec > make_interval(secs => :window) AS starts_group
        FROM jobs
        WHERE user_id = ANY(:users) AND deleted_time IS NULL AND NOT allow_duplicate
        WINDOW same_spec AS (PARTITION BY user_id, spec_fingerprint ORDER BY create_time, id)
    ), numbered AS (
        SELECT *, count(*) FILTER (WHERE starts_group IS NOT FALSE) OVER (
            PARTITION BY user_id, spec_fingerprint ORDER BY create_time, id
        ) AS group_number
        FROM ordered
    ), sized AS (
        SELECT *, count(*) OVER (PARTITION BY user_id, spec_fingerprint, group_number) AS size FROM numbered
    )
    SELECT * FROM sized WHERE size > 1
    ORDER BY user_id, spec_fingerprint, group_number, create_time, id
    """
)

SHARED_PROVIDER_JOBS = text(
    """
    SELECT provider, provider_job_id, array_agg(id ORDER BY create_time, id) AS job_ids
    FROM jobs WHERE provider_job_id IS NOT NULL AND deleted_time IS NULL
    GROUP BY provider, provider_job_id HAVING count(*) > 1
    ORDER BY provider, provider_job_id
    """
)


class DuplicateQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @database_errors
    async def user_count(self) -> int:
        async with self._autocommit.connect() as conn:
            return int(await conn.scalar(USER_COUNT) or 0)

    @database_errors
    async def users_after(self, after: str | None, limit: int) -> list[str]:
        """The next `limit` users with jobs, in order (keyset paging, so a long scan holds no cursor)."""
        async with self._autocommit.connect() as conn:
            return list((await conn.scalars(USERS_AFTER, {"after": after, "limit": limit})).all())

    @database_errors
    async def groups(self, users: Sequence[str], window_seconds: float) -> list[GroupMember]:
        """Every job in a group of two or more, of these users, grouped in order."""
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(GROUPS_OF_USERS, {"users": list(users), "window": window_seconds})
            return [
                from_attributes(
                    GroupMember,
                    row,
                    group=(row.user_id, row.spec_fingerprint, row.group_number),
                    state=JobState(row.state),
                    prompt=row.prompt or "",
                )
                for row in rows
            ]

    @database_errors
    async def shared_provider_jobs(self) -> list[SharedProviderJob]:
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(SHARED_PROVIDER_JOBS)
            return [SharedProviderJob(row.provider, row.provider_job_id, tuple(row.job_ids)) for row in rows]

"""The SQL of the worker: claims with SKIP LOCKED, lease renewal, and each step's compare-and-set write with
its event row. What the API writes (cancel, retry, webhook news) is in job_queries.py.

A claim gives each job a fresh `lease_token`. Every later write for that claim is conditioned on the token
(and on the state the step expects), so a worker whose lease lapsed, and was replaced, can no longer
change anything: the step is applied once, by whoever still holds the job. Why leases and not advisory
locks: docs/decisions/0002-leases-over-advisory-locks.md.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.typing import FilteringBoundLogger

from job_service.database import database_errors
from job_service.domain import Job, JobState
from job_service.limit_queries import LimitQueries
from job_service.metrics import JobMetrics
from job_service.tables import job_from_row, jobs
from job_service.throttle_queries import ThrottleQueries
from videojobs.attributes import from_attributes
from videojobs.logs import get_logger

_step_log = get_logger("job_service.steps")

# Jobs past submission (and SUBMITTING ones, which already hold their provider slot). PENDING jobs are
# claimed by LimitQueries.claim_waiting, within the provider limits and in fair order.
CLAIM = text(
    """
    UPDATE jobs SET locked_until = now() + make_interval(secs => :lease), lease_token = gen_random_uuid()
    WHERE id IN (
        SELECT id FROM jobs
        WHERE due_time <= now() AND (locked_until IS NULL OR locked_until < now()) AND state <> 'PENDING'
        ORDER BY due_time
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING *
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
    provider_retries: int
    # Times in a row the current step found one of our own services out of reach (Job.waiting_for names it).
    peer_waits: int
    provider_result: Mapping[str, Any] | None
    provider_news: Mapping[str, Any] | None
    # When the job entered its current state (database clock).
    state_time: datetime
    # Since when its submissions have been answered 429 (None: the last one was not).
    throttled_since: datetime | None = None
    # Set only on a job claimed because it waited for a provider limit past max_queue_seconds.
    waiting_since: datetime | None = None

    @property
    def provider(self) -> str:
        return self.job.spec.providers[self.provider_index]

    @property
    def log(self) -> FilteringBoundLogger:
        """The log of this job's step: each line names the job and the provider it is on."""
        return _step_log.bind(job_id=str(self.job.id), provider=self.provider)


def _item(row: Any) -> WorkItem:
    return from_attributes(WorkItem, row, job=job_from_row(row), token=row.lease_token)


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


StreamNews = Literal["due", "busy", "gone"]

DUE_WITHIN = text(
    """
    UPDATE jobs SET due_time = CASE
        WHEN locked_until IS NULL OR locked_until < now()
        THEN LEAST(due_time, now() + make_interval(secs => :due_in)) ELSE due_time END
    WHERE id = :id AND state = 'PROCESSING' AND provider_job_id = :provider_job_id
    RETURNING locked_until IS NOT NULL AND locked_until >= now() AS busy
    """
)


DUE_QUEUE = text(
    """
    SELECT count(*) AS depth, COALESCE(EXTRACT(EPOCH FROM now() - min(due_time)), 0) AS oldest
    FROM jobs WHERE due_time <= now() AND (locked_until IS NULL OR locked_until < now())
    """
)


# Each step's write runs as one prepared statement on the bare driver (like CreateJob): the compare-and-set
# UPDATE, and in the same statement (so atomically, in one round trip) the quota refund and the event row,
# both fed by the updated row. The event insert fires the job_events triggers (NOTIFY, webhook outbox) as
# before. Steps set a handful of different column sets, so the statements are built once per shape.
_JOB_COLUMNS = ", ".join(column.name for column in jobs.c)
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_SQL_TYPES = {column.name: column.type.compile(dialect=_DIALECT) for column in jobs.c}
_JSONB_COLUMNS = frozenset(column.name for column in jobs.c if isinstance(column.type, JSONB))


@functools.lru_cache(maxsize=256)
def _apply_statement(
    columns: tuple[str, ...], scheduled: bool, terminal: bool, refund: bool, event: bool
) -> str:
    assignments = [f"{column} = %(v_{column})s::{_SQL_TYPES[column]}" for column in columns]
    assignments.append("due_time = now() + %(due_in)s::interval" if scheduled else "due_time = NULL")
    if terminal:
        assignments.append("end_time = now()")
    statement = f"""
        WITH updated AS (
            UPDATE jobs SET {", ".join(assignments)}
            WHERE id = %(id)s::uuid AND lease_token = %(token)s::uuid AND state = %(expected)s::text
            RETURNING {_JOB_COLUMNS}
        )"""
    if refund:
        # Give back the quota unit the job took on its quota day (never below zero).
        statement += """, refund AS (
            UPDATE quota_usage AS q SET used = q.used - 1 FROM updated AS u
            WHERE q.user_id = u.user_id AND q.day = u.quota_day AND q.used > 0
        )"""
    if event:
        statement += """, event AS (
            INSERT INTO job_events (job_id, type, state, message, detail)
            SELECT id, %(event)s::text, %(state)s::text, %(message)s::text, %(detail)s::jsonb FROM updated
        )"""
    return statement + f" SELECT {_JOB_COLUMNS} FROM updated"


class LeaseQueries:
    def __init__(
        self, engine: AsyncEngine, metrics: JobMetrics | None = None, limits: LimitQueries | None = None
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.limits = limits or LimitQueries(engine, ())
        self.throttles = ThrottleQueries(engine, self.limits.window_seconds)

    @database_errors
    async def claim(self, limit: int, lease_seconds: float) -> list[WorkItem]:
        """Due jobs: steps of started jobs first (they free provider slots), then submissions."""
        async with self._autocommit.connect() as conn:
            rows = list(await conn.execute(CLAIM, {"limit": limit, "lease": lease_seconds}))
        if len(rows) < limit:
            rows += await self.limits.claim_waiting(limit - len(rows), lease_seconds)
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

    async def apply(self, item: WorkItem, transition: Transition) -> WorkItem | None:
        """Compare-and-set from the claimed state; the updated item, or None if the claim was lost
        (lease lapsed and taken over, or the job was cancelled meanwhile)."""
        after = await self._apply(item, transition)
        if self._metrics is not None:
            self._metrics.step_applied(item, transition, after)
        return after

    @database_errors
    async def due_queue(self) -> tuple[int, float]:
        """How many jobs are due and unheld, and how long the oldest of them has been due (seconds)."""
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(DUE_QUEUE)).one()
        return int(row.depth), float(row.oldest)

    @database_errors
    async def _apply(self, item: WorkItem, transition: Transition) -> WorkItem | None:
        values: dict[str, Any] = dict(transition.values)
        values["state"] = transition.state.value
        # Whatever a step did, it is no longer waiting for our services unless it says it still is.
        values.setdefault("waiting_for", None)
        values.setdefault("peer_waits", 0)
        if not transition.keep_lease:
            values.update(locked_until=None, lease_token=None)
        unknown = values.keys() - _SQL_TYPES.keys() | values.keys() & {"due_time", "end_time"}
        if unknown:
            raise ValueError(f"a step cannot set {sorted(unknown)}")
        columns = tuple(sorted(values))
        statement = _apply_statement(
            columns,
            transition.due_in is not None,
            transition.state.terminal,
            transition.refund,
            transition.event is not None,
        )
        params: dict[str, Any] = {
            f"v_{column}": Jsonb(value) if column in _JSONB_COLUMNS and value is not None else value
            for column, value in values.items()
        }
        params.update(id=item.job.id, token=item.token, expected=item.job.state.value)
        if transition.due_in is not None:
            params["due_in"] = timedelta(seconds=transition.due_in)
        if transition.event is not None:
            params.update(
                event=transition.event,
                state=transition.state.value,
                message=transition.message,
                detail=Jsonb(dict(transition.detail)),
            )
        async with self._driver() as conn, conn.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(statement, params, prepare=True)
            row = await cursor.fetchone()
        return None if row is None else _item(row)

    @contextlib.asynccontextmanager
    async def _driver(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of the engine's pool as the bare psycopg connection, in autocommit (one statement is
        its own transaction: no BEGIN/COMMIT round trips). The engine's pool, not the CreateJob driver pool,
        so a step still holds one connection of the pool the worker is sized for (README, Sizing)."""
        async with self._engine.connect() as outer:
            raw = await outer.get_raw_connection()
            conn = raw.driver_connection
            assert isinstance(conn, psycopg.AsyncConnection)
            await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                # A broken connection is left as it is: the pool discards it when it comes back.
                if conn.pgconn.transaction_status == TransactionStatus.IDLE:
                    await conn.set_autocommit(False)

    @database_errors
    async def current(self, job_id: uuid.UUID) -> Job | None:
        """The job as it is now, whoever holds it (a step that lost its claim looks at why)."""
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return job_from_row(row) if row else None

    @database_errors
    async def due_within(self, job_id: uuid.UUID, provider_job_id: str, due_in: float) -> StreamNews:
        """Make the job due within `due_in` seconds unless it is due sooner: now (0) when a status stream
        saw the provider finish it, so the next step polls and finalizes it; at its normal poll when a stream
        ended without a finish. Only while it is still PROCESSING that provider job ("gone" otherwise);
        "busy" while a step holds it, whose own write would push the due time out again (ask again once it is
        done)."""
        params = {"id": job_id, "provider_job_id": provider_job_id, "due_in": due_in}
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(DUE_WITHIN, params)).first()
        if row is None:
            return "gone"
        return "busy" if row.busy else "due"

    @database_errors
    async def still_processing(self, job_id: uuid.UUID, provider_job_id: str) -> bool:
        """Whether the job is still at the provider with this provider job (a stream is worth following)."""
        query = select(jobs.c.id).where(
            jobs.c.id == job_id,
            jobs.c.state == JobState.PROCESSING.value,
            jobs.c.provider_job_id == provider_job_id,
        )
        async with self._autocommit.connect() as conn:
            return (await conn.execute(query)).first() is not None

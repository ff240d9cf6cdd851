"""The SQL of the webhook senders: the outbox's claims, leases and results. (Endpoints and what the API reads
are in webhook_queries.py; the outbox is filled by the job_events_webhooks trigger, migration 0008.)

Senders claim due deliveries like workers claim jobs: SKIP LOCKED, a lease with a fresh token, and every
later write conditioned on the token, so a sender whose lease lapsed cannot overwrite what its successor did.
A delivery waits while an earlier event of the same job is still pending for the same endpoint, so each
endpoint receives a job's events in sequence order. Nothing is sent to a disabled endpoint: its waiting
deliveries end FAILED when it is disabled, and so does one in flight then, once its attempt is recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Update, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.database import database_errors
from job_service.domain import Job, JobState
from job_service.tables import (
    job_events,
    job_from_row,
    jobs,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from job_service.webhook_queries import DELIVERED, FAILED, PENDING, fail_pending
from videojobs.attributes import from_attributes

CLAIM = text(
    """
    UPDATE webhook_deliveries
    SET locked_until = now() + make_interval(secs => :lease), lease_token = gen_random_uuid(),
        attempts = attempts + 1
    WHERE id IN (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.due_time <= now() AND (d.locked_until IS NULL OR d.locked_until < now())
            AND EXISTS (
                SELECT 1 FROM webhook_endpoints w WHERE w.id = d.endpoint_id AND w.disabled_time IS NULL
            )
            AND NOT EXISTS (
                SELECT 1 FROM webhook_deliveries e
                WHERE e.job_id = d.job_id AND e.endpoint_id = d.endpoint_id AND e.event_id < d.event_id
                    AND e.state = 'PENDING'
            )
        ORDER BY d.due_time
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, lease_token, attempts
    """
)

QUEUE = text(
    """
    SELECT count(*) AS depth, COALESCE(EXTRACT(EPOCH FROM now() - min(create_time)), 0) AS oldest
    FROM webhook_deliveries WHERE due_time IS NOT NULL
    """
)


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender holds, with what it needs to send it. Secrets are still sealed here."""

    delivery_id: uuid.UUID
    token: uuid.UUID
    attempt: int
    endpoint_id: uuid.UUID
    url: str
    sealed_secrets: tuple[str, ...]
    event_type: str
    event_state: JobState
    sequence: int
    event_time: datetime
    job: Job


@dataclass(frozen=True)
class Outcome:
    """One attempt's result. `retry_in` None: no further attempt (delivered, or given up)."""

    status_code: int | None
    error: str
    latency_seconds: float
    delivered: bool
    retry_in: float | None
    # The endpoint answered in a way that means "never again" (410 Gone).
    gone: bool = False


class OutboxQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    # --- the senders -------------------------------------------------------------------------------------

    @database_errors
    async def claim(self, limit: int, lease_seconds: float) -> list[Claimed]:
        async with self._autocommit.connect() as conn:
            claims = {
                row.id: row for row in await conn.execute(CLAIM, {"limit": limit, "lease": lease_seconds})
            }
            if not claims:
                return []
            rows = await conn.execute(
                select(
                    webhook_deliveries.c.id.label("delivery_id"),
                    webhook_deliveries.c.event_type,
                    webhook_deliveries.c.event_state,
                    webhook_deliveries.c.event_id.label("sequence"),
                    webhook_endpoints.c.url,
                    webhook_endpoints.c.id.label("endpoint_id"),
                    webhook_endpoints.c.secret.label("endpoint_secret"),
                    webhook_endpoints.c.previous_secret,
                    (webhook_endpoints.c.previous_secret_expire_time > func.now()).label("overlapping"),
                    job_events.c.create_time.label("event_time"),
                    *jobs.c,
                )
                .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
                .join(jobs, jobs.c.id == webhook_deliveries.c.job_id)
                .join(job_events, job_events.c.id == webhook_deliveries.c.event_id)
                .where(webhook_deliveries.c.id.in_(list(claims)))
            )
            return [_claimed(row, claims[row.delivery_id]) for row in rows]

    @database_errors
    async def renew(self, claimed: Claimed, lease_seconds: float) -> bool:
        async with self._autocommit.connect() as conn:
            result = await conn.execute(
                _still_held(claimed).values(locked_until=func.now() + timedelta(seconds=lease_seconds))
            )
        return bool(result.rowcount)

    @database_errors
    async def record(self, claimed: Claimed, outcome: Outcome, disable_after: timedelta) -> str | None:
        """Log the attempt and move the delivery on (compare-and-set on the lease); keep the endpoint's
        failing run, and disable it on 410 Gone or a run longer than `disable_after`. Returns the reason
        when this disabled the endpoint; nothing is written when the claim was lost."""
        next_time = None if outcome.retry_in is None else func.now() + timedelta(seconds=outcome.retry_in)
        state = DELIVERED if outcome.delivered else (PENDING if outcome.retry_in is not None else FAILED)
        async with self._engine.begin() as conn:
            moved = await conn.execute(
                _still_held(claimed).values(
                    state=state,
                    due_time=next_time,
                    end_time=None if state == PENDING else func.now(),
                    locked_until=None,
                    lease_token=None,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error,
                )
            )
            if not moved.rowcount:
                return None
            await conn.execute(
                insert(webhook_attempts).values(
                    delivery_id=claimed.delivery_id,
                    attempt=claimed.attempt,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    latency_seconds=outcome.latency_seconds,
                    next_retry_time=next_time,
                )
            )
            return await _endpoint_health(conn, claimed.endpoint_id, outcome, disable_after)

    @database_errors
    async def queue(self) -> tuple[int, float]:
        """Deliveries not yet finished, and the age of the oldest of them (seconds)."""
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(QUEUE)).one()
        return int(row.depth), float(row.oldest)


async def _endpoint_health(
    conn: AsyncConnection, endpoint_id: uuid.UUID, outcome: Outcome, disable_after: timedelta
) -> str | None:
    table = webhook_endpoints
    if outcome.delivered:
        await conn.execute(
            update(table)
            .where(table.c.id == endpoint_id, table.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return None
    row = (
        await conn.execute(
            update(table)
            .where(table.c.id == endpoint_id)
            .values(failing_since=func.coalesce(table.c.failing_since, func.now()))
            .returning(
                table.c.disabled_time,
                (table.c.failing_since < func.now() - disable_after).label("failing_too_long"),
                table.c.failing_since,
            )
        )
    ).first()
    if row is None:
        return None
    if row.disabled_time is not None:  # disabled while this attempt was in flight: no retry either
        await fail_pending(conn, endpoint_id, "the endpoint is disabled")
        return None
    if outcome.gone:
        reason = "the endpoint answered 410 Gone"
    elif row.failing_too_long:
        since = row.failing_since.isoformat(timespec="seconds")
        reason = f"every delivery failed since {since}; the last one: {outcome.error}"
    else:
        return None
    await conn.execute(
        update(table)
        .where(table.c.id == endpoint_id)
        .values(disabled_time=func.now(), disabled_reason=reason)
    )
    await fail_pending(conn, endpoint_id, f"the endpoint was disabled: {reason}")
    return reason


def _claimed(row: Row[Any], claim: Row[Any]) -> Claimed:
    sealed: tuple[str, ...] = (row.endpoint_secret,)
    if row.previous_secret and row.overlapping:
        sealed += (row.previous_secret,)
    # The row also holds every column of the job (job_from_row reads them), `attempt` among them: the
    # delivery's own values are named here, never left to the row.
    return from_attributes(
        Claimed,
        row,
        token=claim.lease_token,
        attempt=claim.attempts,
        sealed_secrets=sealed,
        event_state=JobState(row.event_state),
        job=job_from_row(row),
    )


def _still_held(claimed: Claimed) -> Update:
    """An update of the claimed delivery that changes nothing once the sender's lease went to another."""
    return update(webhook_deliveries).where(
        webhook_deliveries.c.id == claimed.delivery_id,
        webhook_deliveries.c.lease_token == claimed.token,
    )

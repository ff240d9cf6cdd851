"""The SQL of outbound webhooks: endpoints (what the API reads and writes), the outbox's claims and results
(what the senders write) and the attempts log. The outbox itself is filled by the job_events_webhooks trigger
(migration 0008), in the transaction of each job event.

Senders claim due deliveries like workers claim jobs: SKIP LOCKED, a lease with a fresh token, and every
later write conditioned on the token, so a sender whose lease lapsed cannot overwrite what its successor did.
A delivery waits while an earlier event of the same job is still pending for the same endpoint, so each
endpoint receives a job's events in sequence order. Nothing is sent to a disabled endpoint: its waiting
deliveries end FAILED when it is disabled, and so does one in flight then, once its attempt is recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.database import database_errors
from job_service.domain import (
    Job,
    JobState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointPatch,
)
from job_service.tables import (
    job_events,
    job_from_row,
    jobs,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_signing_secrets,
)
from videojobs.contract import WebhookDeliveryState

PENDING = WebhookDeliveryState.PENDING.value
DELIVERED = WebhookDeliveryState.DELIVERED.value
FAILED = WebhookDeliveryState.FAILED.value

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


def endpoint_from_row(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        user_id=row.user_id,
        url=row.url,
        event_types=tuple(row.event_types),
        description=row.description,
        create_time=row.create_time,
        update_time=row.update_time,
        failing_since=row.failing_since,
        disabled_time=row.disabled_time,
        disabled_reason=row.disabled_reason,
        previous_secret_expire_time=row.previous_secret_expire_time,
        job_id=row.job_id,
    )


def _delivery(row: Any, attempts: Sequence[WebhookAttempt] = ()) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        job_id=row.job_id,
        sequence=row.event_id,
        event_type=row.event_type,
        event_state=JobState(row.event_state),
        state=row.state,
        attempts=row.attempts,
        next_attempt_time=row.due_time,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        create_time=row.create_time,
        end_time=row.end_time,
        attempt_log=tuple(attempts),
    )


def _attempt(row: Any) -> WebhookAttempt:
    return WebhookAttempt(
        attempt=row.attempt,
        time=row.create_time,
        status_code=row.status_code,
        error=row.error,
        latency_seconds=row.latency_seconds,
        next_retry_time=row.next_retry_time,
    )


class WebhookQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    # --- endpoints (the API) -----------------------------------------------------------------------------

    @database_errors
    async def create_endpoint(
        self,
        user_id: str,
        url: str,
        event_types: Sequence[str],
        description: str,
        sealed_secret: str,
        job_id: uuid.UUID | None = None,
    ) -> WebhookEndpoint:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(webhook_endpoints)
                    .values(
                        id=uuid.uuid4(),
                        user_id=user_id,
                        url=url,
                        event_types=list(event_types),
                        description=description,
                        secret=sealed_secret,
                        job_id=job_id,
                    )
                    .returning(*webhook_endpoints.c)
                )
            ).one()
        return endpoint_from_row(row)

    @database_errors
    async def list_endpoints(self, user_id: str) -> list[WebhookEndpoint]:
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(
                select(webhook_endpoints)
                .where(webhook_endpoints.c.user_id == user_id, webhook_endpoints.c.job_id.is_(None))
                .order_by(webhook_endpoints.c.create_time, webhook_endpoints.c.id)
            )
            return [endpoint_from_row(row) for row in rows]

    @database_errors
    async def get_endpoint(self, user_id: str, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    select(webhook_endpoints).where(
                        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id
                    )
                )
            ).first()
        return endpoint_from_row(row) if row else None

    @database_errors
    async def update_endpoint(
        self, user_id: str, endpoint_id: uuid.UUID, patch: WebhookEndpointPatch
    ) -> WebhookEndpoint | None:
        values: dict[str, Any] = {"update_time": func.now()}
        if patch.url is not None:
            values["url"] = patch.url
        if patch.event_types is not None:
            values["event_types"] = list(patch.event_types)
        if patch.description is not None:
            values["description"] = patch.description
        if patch.enabled is True:
            values.update(disabled_time=None, disabled_reason="", failing_since=None)
        elif patch.enabled is False:
            values.update(disabled_time=func.now(), disabled_reason="disabled by its owner")
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id)
                    .values(**values)
                    .returning(*webhook_endpoints.c)
                )
            ).first()
            if row is not None and patch.enabled is False:
                await _fail_pending(conn, endpoint_id, "the endpoint was disabled by its owner")
        return endpoint_from_row(row) if row else None

    @database_errors
    async def signing_secret(self, user_id: str, sealed_if_new: str) -> str:
        """The user's sealed signing secret, made from `sealed_if_new` on first use."""
        table = webhook_signing_secrets
        async with self._engine.begin() as conn:
            await conn.execute(
                pg_insert(table).values(user_id=user_id, secret=sealed_if_new).on_conflict_do_nothing()
            )
            sealed = await conn.scalar(select(table.c.secret).where(table.c.user_id == user_id))
        return str(sealed)

    @database_errors
    async def delete_endpoint(self, user_id: str, endpoint_id: uuid.UUID) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(webhook_endpoints).where(
                    webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id
                )
            )
        return bool(result.rowcount)

    @database_errors
    async def rotate_secret(
        self, user_id: str, endpoint_id: uuid.UUID, sealed_secret: str, overlap_seconds: float
    ) -> WebhookEndpoint | None:
        """The new secret signs from now on; the current one goes on signing beside it for the overlap."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id)
                    .values(
                        secret=sealed_secret,
                        previous_secret=webhook_endpoints.c.secret,
                        previous_secret_expire_time=func.now() + timedelta(seconds=overlap_seconds),
                        update_time=func.now(),
                    )
                    .returning(*webhook_endpoints.c)
                )
            ).first()
        return endpoint_from_row(row) if row else None

    # --- deliveries (the API) ----------------------------------------------------------------------------

    @database_errors
    async def deliveries(
        self,
        user_id: str,
        *,
        endpoint_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        limit: int = 20,
    ) -> list[WebhookDelivery]:
        """A user's deliveries to one endpoint or for one job, newest first, each with its attempts."""
        query = (
            select(webhook_deliveries)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(webhook_endpoints.c.user_id == user_id)
            .order_by(webhook_deliveries.c.event_id.desc(), webhook_deliveries.c.id)
            .limit(limit)
        )
        if endpoint_id is not None:
            query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if job_id is not None:
            query = query.where(webhook_deliveries.c.job_id == job_id)
        async with self._autocommit.connect() as conn:
            rows = (await conn.execute(query)).all()
            attempts = await _attempts(conn, [row.id for row in rows])
        return [_delivery(row, attempts.get(row.id, ())) for row in rows]

    @database_errors
    async def endpoint_of(self, user_id: str, delivery_id: uuid.UUID) -> WebhookEndpoint | None:
        async with self._autocommit.connect() as conn:
            row = (
                await conn.execute(
                    select(webhook_endpoints)
                    .join(webhook_deliveries, webhook_deliveries.c.endpoint_id == webhook_endpoints.c.id)
                    .where(webhook_deliveries.c.id == delivery_id, webhook_endpoints.c.user_id == user_id)
                )
            ).first()
        return endpoint_from_row(row) if row else None

    @database_errors
    async def redeliver(self, user_id: str, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """Due again now, with the same webhook-id; None when it is not this user's."""
        owned = select(webhook_endpoints.c.id).where(
            webhook_endpoints.c.user_id == user_id, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id
        )
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == delivery_id, owned.exists())
                    .values(
                        state=PENDING, due_time=func.now(), end_time=None, locked_until=None, lease_token=None
                    )
                    .returning(*webhook_deliveries.c)
                )
            ).first()
            if row is None:
                return None
            attempts = await _attempts(conn, [row.id])
        return _delivery(row, attempts.get(row.id, ()))

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
                    webhook_deliveries.c.event_id,
                    webhook_endpoints.c.url.label("endpoint_url"),
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
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == claimed.delivery_id,
                    webhook_deliveries.c.lease_token == claimed.token,
                )
                .values(locked_until=func.now() + timedelta(seconds=lease_seconds))
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
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == claimed.delivery_id,
                    webhook_deliveries.c.lease_token == claimed.token,
                )
                .values(
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
        await _fail_pending(conn, endpoint_id, "the endpoint is disabled")
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
    await _fail_pending(conn, endpoint_id, f"the endpoint was disabled: {reason}")
    return reason


async def _fail_pending(conn: AsyncConnection, endpoint_id: uuid.UUID, why: str) -> None:
    """A disabled endpoint's waiting deliveries end as failed (each can be redelivered once it is enabled);
    one being sent right now ends so when its attempt is recorded."""
    await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.state == PENDING,
            or_(webhook_deliveries.c.lease_token.is_(None), webhook_deliveries.c.locked_until < func.now()),
        )
        .values(state=FAILED, due_time=None, end_time=func.now(), last_error=why)
    )


async def _attempts(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[WebhookAttempt]]:
    if not ids:
        return {}
    rows = await conn.execute(
        select(webhook_attempts)
        .where(and_(webhook_attempts.c.delivery_id.in_(list(ids))))
        .order_by(webhook_attempts.c.id)
    )
    found: dict[uuid.UUID, list[WebhookAttempt]] = {}
    for row in rows:
        found.setdefault(row.delivery_id, []).append(_attempt(row))
    return found


def _claimed(row: Row[Any], claim: Row[Any]) -> Claimed:
    sealed: tuple[str, ...] = (row.endpoint_secret,)
    if row.previous_secret and row.overlapping:
        sealed += (row.previous_secret,)
    return Claimed(
        delivery_id=row.delivery_id,
        token=claim.lease_token,
        attempt=claim.attempts,
        endpoint_id=row.endpoint_id,
        url=row.endpoint_url,
        sealed_secrets=sealed,
        event_type=row.event_type,
        event_state=JobState(row.event_state),
        sequence=row.event_id,
        event_time=row.event_time,
        job=job_from_row(row),
    )

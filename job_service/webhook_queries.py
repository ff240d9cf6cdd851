"""The SQL of outbound webhooks that the API reads and writes: endpoints, signing secrets, deliveries and
their attempts log, redelivery. What the senders write (the outbox's claims and results) is in
outbox_queries.py. The outbox itself is filled by the job_events_webhooks trigger (migration 0008), in the
transaction of each job event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.database import database_errors
from job_service.domain import (
    JobState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointPatch,
)
from job_service.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_signing_secrets,
)
from videojobs.attributes import from_attributes
from videojobs.contract import WebhookDeliveryState

PENDING = WebhookDeliveryState.PENDING.value
DELIVERED = WebhookDeliveryState.DELIVERED.value
FAILED = WebhookDeliveryState.FAILED.value


def endpoint_from_row(row: Any) -> WebhookEndpoint:
    return from_attributes(WebhookEndpoint, row, event_types=tuple(row.event_types))


def _delivery(row: Any, attempts: Sequence[WebhookAttempt] = ()) -> WebhookDelivery:
    return from_attributes(
        WebhookDelivery,
        row,
        sequence=row.event_id,
        event_state=JobState(row.event_state),
        next_attempt_time=row.due_time,
        attempt_log=tuple(attempts),
    )


def _attempt(row: Any) -> WebhookAttempt:
    return from_attributes(WebhookAttempt, row, time=row.create_time)


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
                await fail_pending(conn, endpoint_id, "the endpoint was disabled by its owner")
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


async def fail_pending(conn: AsyncConnection, endpoint_id: uuid.UUID, why: str) -> None:
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

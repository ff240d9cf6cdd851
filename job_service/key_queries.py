"""The SQL of API keys (hashes only), apart from jobs: the CLI and the gateway benchmark mint keys with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.domain import ApiKey, Cursor
from job_service.tables import api_keys

_LISTED = (
    api_keys.c.id,
    api_keys.c.user_id,
    api_keys.c.role,
    api_keys.c.prefix,
    api_keys.c.create_time,
    api_keys.c.revoked_time,
)


@dataclass(frozen=True)
class ApiKeyOwner:
    user_id: str
    role: str


class ApiKeyQueries:
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

    @database_errors
    async def list_keys(
        self, user_id: str | None, include_revoked: bool, after: Cursor | None, limit: int
    ) -> list[ApiKey]:
        """Keys oldest first (keyset paging on create time and id); never their hashes."""
        query = select(*_LISTED)
        if user_id:
            query = query.where(api_keys.c.user_id == user_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_time.is_(None))
        if after is not None:
            query = query.where(
                tuple_(api_keys.c.create_time, api_keys.c.id) > tuple_(after.create_time, after.id)
            )
        query = query.order_by(api_keys.c.create_time, api_keys.c.id).limit(limit)
        async with self._autocommit.connect() as conn:
            return [_key(row) for row in await conn.execute(query)]

    @database_errors
    async def get_key(self, key_id: uuid.UUID) -> ApiKey | None:
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(select(*_LISTED).where(api_keys.c.id == key_id))).first()
        return _key(row) if row else None

    @database_errors
    async def revoke(self, key_id: uuid.UUID) -> ApiKey | None:
        """Revoke the key (a revoked one keeps its first revocation time); None if there is no such key."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(revoked_time=func.coalesce(api_keys.c.revoked_time, func.now()))
                    .returning(*_LISTED)
                )
            ).first()
        return _key(row) if row else None


def _key(row: Any) -> ApiKey:
    return ApiKey(row.id, row.user_id, row.role, row.prefix, row.create_time, row.revoked_time)

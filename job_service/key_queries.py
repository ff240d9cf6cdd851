"""The SQL of API keys (hashes only), apart from jobs: the CLI and the gateway benchmark mint keys with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.tables import api_keys


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

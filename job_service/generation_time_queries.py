"""How long generations took, per provider and model: written when a provider reports success, read as
p10/p50/p90 by the poll schedule (poll_schedule.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.poll_schedule import Key, Typical

# Measured on the database's clock, from when the job entered PROCESSING.
RECORD = text(
    """
    INSERT INTO generation_times (provider, model, seconds)
    VALUES (:provider, :model, greatest(EXTRACT(EPOCH FROM now() - :since), 0))
    """
)

# The latest `samples` of each provider and model within `days`; older rows are deleted.
TYPICAL = text(
    """
    SELECT provider, model, count(*) AS samples,
        percentile_cont(0.1) WITHIN GROUP (ORDER BY seconds) AS p10,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) AS p90
    FROM (
        SELECT provider, model, seconds,
            row_number() OVER (PARTITION BY provider, model ORDER BY finish_time DESC) AS n
        FROM generation_times WHERE finish_time > now() - make_interval(days => :days)
    ) AS recent
    WHERE n <= :samples
    GROUP BY provider, model
    """
)

PRUNE = text("DELETE FROM generation_times WHERE finish_time < now() - make_interval(days => :days)")


class GenerationTimeQueries:
    def __init__(self, engine: AsyncEngine, *, samples: int = 500, days: int = 7) -> None:
        self._engine = engine
        self._samples = samples
        self._days = days

    @database_errors
    async def record(self, provider: str, model: str, since: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(RECORD, {"provider": provider, "model": model, "since": since})

    @database_errors
    async def typical(self) -> dict[Key, Typical]:
        async with self._engine.begin() as conn:
            await conn.execute(PRUNE, {"days": self._days})
            rows = await conn.execute(TYPICAL, {"days": self._days, "samples": self._samples})
            return {
                (row.provider, row.model): Typical(
                    float(row.p10), float(row.p50), float(row.p90), int(row.samples)
                )
                for row in rows
            }

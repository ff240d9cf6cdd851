"""Readiness: job_service reports its API (`videojobs.v1.JobService` in the health service) NOT_SERVING
while Postgres does not answer, so the gateway's /readyz and balancers stop sending it work.

A ping (`SELECT 1` on the driver pool, which also needs a free connection) runs every interval; one that
has not answered within the timeout is a miss, and `misses` in a row mark the API not serving, without
waiting for the ping to give up (a frozen server never answers, and a cancelled query waits on its own
cancellation). A ping still stuck is not duplicated: the next round waits on it again. The overall status
("") is left alone: it is what liveness probes read, and restarting a replica does not bring a database back.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from grpc_health.v1 import health, health_pb2
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from videojobs.logs import get_logger

log = get_logger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DatabaseReadiness:
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        health_servicer: health.aio.HealthServicer,
        service: str,
        *,
        interval: float,
        timeout: float,
        misses: int = 1,
    ) -> None:
        self._pool = pool
        self._health = health_servicer
        self._service = service
        self._interval = interval
        self._timeout = timeout
        self._misses = misses

    async def run(self, stopping: asyncio.Event) -> None:
        serving = True
        missed = 0
        ping: asyncio.Task[None] | None = None
        try:
            while not stopping.is_set():
                if ping is None or ping.done():
                    ping = asyncio.create_task(self._ping(), name="database-ping")
                done, _ = await asyncio.wait({ping}, timeout=self._timeout)
                missed = 0 if ping in done and _succeeded(ping) else missed + 1
                ok = missed < self._misses
                if ok != serving:
                    serving = ok
                    if ok:
                        log.info("database answers again: serving")
                    else:
                        log.warning(
                            "database does not answer: not serving",
                            timeout_seconds=self._timeout,
                            missed_pings=missed,
                        )
                    await self._health.set(self._service, SERVING if ok else NOT_SERVING)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self._interval)
        finally:
            if ping is not None and not ping.done():
                ping.cancel()

    async def _ping(self) -> None:
        async with self._pool.connection(timeout=self._timeout) as connection:
            await connection.execute("SELECT 1")


def _succeeded(task: asyncio.Task[None]) -> bool:
    return not task.cancelled() and task.exception() is None  # also marks a failure as seen

"""Readiness: job_service reports its API (`videojobs.v1.JobService` in the health service) NOT_SERVING
while Postgres does not answer, so the gateway's /readyz and balancers stop sending it work.

A ping (`SELECT 1`) runs every interval on a connection of its own, not one of the request pools': a pool
busy with a burst of creates is a database that answers, and taking every replica out of the balancer for
it would turn load into an outage. A ping that has not answered within the timeout is a miss, and `misses`
in a row mark the API not serving, without waiting for the ping to give up (a frozen server never answers,
and a cancelled query waits on its own cancellation). A ping still stuck is not duplicated: the next round
waits on it again. The overall status ("") is left alone: it is what liveness probes read, and restarting a
replica does not bring a database back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health, health_pb2
from psycopg import AsyncConnection

from videojobs.logs import get_logger

log = get_logger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class ProbeOptions:
    """The ready_probe_* settings (their defaults are in settings.py)."""

    interval_seconds: float
    timeout_seconds: float
    misses: int


class DatabaseReadiness:
    def __init__(
        self, url: str, health_servicer: health.aio.HealthServicer, service: str, options: ProbeOptions
    ) -> None:
        self._url = url
        self._connection: AsyncConnection[Any] | None = None
        self._health = health_servicer
        self._service = service
        self._options = options

    async def run(self, stopping: asyncio.Event) -> None:
        serving = True
        missed = 0
        ping: asyncio.Task[None] | None = None
        try:
            while not stopping.is_set():
                if ping is None or ping.done():
                    ping = asyncio.create_task(self._ping(), name="database-ping")
                    ping.add_done_callback(_succeeded)  # a late failure is seen, not logged as unretrieved
                done, _ = await asyncio.wait({ping}, timeout=self._options.timeout_seconds)
                missed = 0 if ping in done and _succeeded(ping) else missed + 1
                ok = missed < self._options.misses
                if ok != serving:
                    serving = ok
                    if ok:
                        log.info("database answers again: serving")
                    else:
                        log.warning(
                            "database does not answer: not serving",
                            timeout_seconds=self._options.timeout_seconds,
                            missed_pings=missed,
                        )
                    await self._health.set(self._service, SERVING if ok else NOT_SERVING)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self._options.interval_seconds)
        finally:
            if ping is not None and not ping.done():
                ping.cancel()
                await asyncio.wait({ping})
            await self._close()

    async def _ping(self) -> None:
        if self._connection is None or self._connection.closed:
            self._connection = await AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=max(2, round(self._options.timeout_seconds))
            )
        try:
            await self._connection.execute("SELECT 1")
        except BaseException:
            await self._close()  # broken, or cancelled mid-query: the next ping starts on a new connection
            raise

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


def _succeeded(task: asyncio.Task[None]) -> bool:
    return not task.cancelled() and task.exception() is None  # also marks a failure as seen

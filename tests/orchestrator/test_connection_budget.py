"""The connection budget the deployment files are sized by (JobServiceSettings.max_db_connections, checked
against Postgres' max_connections in tests/test_compose.py and tests/test_kubernetes.py) holds for real: an
API replica with a worker and a worker-only replica, under a burst of creates, reads and running jobs,
never have more connections open than the formula allows them."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from job_service.settings import JobServiceSettings
from provider_service.fakes import FalFake
from tests.support.pipeline import StartPipeline
from videojobs.v1 import job_service_pb2

# Small pools, so the burst below fills every one of them.
POOLS: dict[str, Any] = {"db_pool_size": 2, "db_max_overflow": 1, "worker_concurrency": 3}


async def _peak_connections(database_url: str, stop: asyncio.Event) -> int:
    """The most client connections open to this test's database at once, sampled every few milliseconds
    until `stop` (the sampler's own connection not counted)."""
    peak = 0
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            row = await cursor.fetchone()
            assert row is not None
            peak = max(peak, int(row[0]))
            await asyncio.sleep(0.005)
    return peak


async def test_replicas_stay_within_the_connection_budget(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 2
    stack = await start_stack(providers={"fal": fal_fake}, replicas=2, **POOLS)
    assert len(stack.services) == 2  # the API with its worker, and a worker-only replica
    settings = JobServiceSettings(**POOLS)
    budget = settings.max_db_connections(serves_api=True) + settings.max_db_connections(serves_api=False)
    stop = asyncio.Event()
    sampler = asyncio.create_task(_peak_connections(stack.database_url, stop))
    try:
        created = await asyncio.gather(*(stack.create(providers=["fal"]) for _ in range(30)))
        reads = [stack.get(reply.job.id) for reply in created for _ in range(3)]
        jobs, _ = await asyncio.gather(
            asyncio.gather(*(stack.wait(reply.job.id, within=60) for reply in created)),
            asyncio.gather(*reads),
        )
    finally:
        stop.set()
        peak = await sampler
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert peak <= budget, f"{peak} connections open at once, the budget is {budget}"
    # The burst did fill the pools: the kept connections of both replicas (every pool but the overflow).
    kept = budget - 2 * settings.db_max_overflow
    assert peak >= kept, f"only {peak} connections at the peak: the burst did not fill the pools"

"""Outbound webhooks: deliveries/s to a local receiver with 1 and 8 concurrent sends, and what one endpoint
adds to a job transition (transitions/s with and without it), measured in the same run.

    python -m bench.webhooks [--deliveries 1500] [--seconds 3] [--jobs 8]

Deliveries: the outbox is filled through the real trigger (one job event per job, one endpoint subscribed),
then drained by the real sender (claims, signing, the SSRF-checked POST, the attempt log, the CAS write) at
concurrency 1 and 8; the receiver answers 204 at once (a threaded http.server on loopback). "floor" is plain
httpx POSTs of the same body to the same receiver from 8 concurrent loops, the most this transport allows
here; "of floor" says how much of it the sender's bookkeeping leaves.

Transitions: N jobs each flip between two states through LeaseQueries.apply (the worker's write: a CAS
update and its job_events row, one transaction), with no endpoint, then with one endpoint subscribed to
every state change (each transition also writes a delivery row). Alternating rounds; medians printed.
Both use one Postgres (embedded unless DATABASE_URL is set), database `vj_bench_webhooks`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import psycopg

from bench.create_jobs import fresh_database
from job_service import database
from job_service.domain import Job, JobState
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.metrics import JobMetrics
from job_service.outbox_queries import OutboxQueries
from job_service.server import webhook_fetcher, webhook_sender_options
from job_service.settings import JobServiceSettings
from job_service.webhook_sender import WebhookSender
from job_service.webhook_signing import DEV_SECRET_KEY, SecretBox, new_secret
from provider_service.local_http import LocalHttpServer, Response
from videojobs.logs import configure_logging

SPEC = '{"prompt": "benchmark", "duration_seconds": 4, "aspect_ratio": "16:9", "providers": ["sim"]}'


def add_jobs(conn: psycopg.Connection, user: str, count: int, with_event: bool) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO jobs (id, user_id, spec, state, quota_day, due_time) "
            "VALUES (%s, %s, %s, 'PENDING', current_date, NULL)",
            [(job_id, user, SPEC) for job_id in ids],
        )
        if with_event:
            cursor.executemany(
                "INSERT INTO job_events (job_id, type, state) VALUES (%s, 'created', 'PENDING')",
                [(job_id,) for job_id in ids],
            )
    return ids


def add_endpoint(conn: psycopg.Connection, user: str, url: str) -> None:
    sealed = SecretBox([DEV_SECRET_KEY]).seal(new_secret())
    conn.execute(
        "INSERT INTO webhook_endpoints (id, user_id, url, event_types, secret) "
        "VALUES (gen_random_uuid(), %s, %s, ARRAY['video.state_changed'], %s)",
        (user, url, sealed),
    )


async def unsigned(jobs: list[Job]) -> list[Job]:
    return jobs  # no completed jobs here: nothing to sign


async def drain(url: str, settings: JobServiceSettings, concurrency: int, expected: int) -> float:
    """Deliveries/s for the sender to deliver every pending delivery."""
    engine = database.create_engine(
        url, pool_size=concurrency + 2, max_overflow=4, statement_timeout_ms=10_000
    )
    queries = OutboxQueries(engine)
    fetcher = webhook_fetcher(settings)
    options = webhook_sender_options(settings.model_copy(update={"webhook_concurrency": concurrency}))
    sender = WebhookSender(queries, fetcher, SecretBox([DEV_SECRET_KEY]), unsigned, options, JobMetrics())
    stopping = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(sender.run(stopping))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cursor = await conn.execute("SELECT count(*) FROM webhook_deliveries WHERE state = 'DELIVERED'")
            row = await cursor.fetchone()
            if row is not None and row[0] >= expected:
                break
            await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stopping.set()
    await running
    await fetcher.client.aclose()
    await engine.dispose()
    return expected / elapsed


def reset_outbox(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM webhook_attempts")
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'PENDING', due_time = now(), attempts = 0, end_time = NULL"
        )


async def floor(receiver: str, seconds: float, clients: int) -> float:
    body = b'{"type":"video.completed","data":{}}'
    deadline = time.perf_counter() + seconds
    counts = [0] * clients
    async with httpx.AsyncClient(trust_env=False) as client:

        async def loop(index: int) -> None:
            while time.perf_counter() < deadline:
                await client.post(receiver, content=body, headers={"content-type": "application/json"})
                counts[index] += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(clients)))
    return sum(counts) / (time.perf_counter() - started)


async def transitions(leases: LeaseQueries, items: list[WorkItem], seconds: float) -> float:
    """Transitions/s with one loop per job, each flipping its job between PENDING and SUBMITTING."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(items)

    async def loop(index: int, item: WorkItem) -> None:
        while time.perf_counter() < deadline:
            target = JobState.SUBMITTING if item.job.state is JobState.PENDING else JobState.PENDING
            after = await leases.apply(item, Transition(target, keep_lease=True, event="state_changed"))
            assert after is not None, "the bench holds every lease"
            item = after
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, item) for i, item in enumerate(items)))
    return sum(counts) / (time.perf_counter() - started)


async def claimed(url: str, leases: LeaseQueries, user: str, count: int) -> list[WorkItem]:
    with psycopg.connect(url, autocommit=True) as conn:
        ids = add_jobs(conn, user, count, with_event=False)
        conn.execute("UPDATE jobs SET due_time = now() WHERE id = ANY(%s)", (ids,))
    items = await leases.claim(count, 3600)
    assert len(items) == count
    return items


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1500, help="deliveries drained per measurement")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one transitions measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent transition loops (one job each)")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    url = fresh_database("vj_bench_webhooks")
    settings = JobServiceSettings(database_url=url, webhook_timeout_seconds=10.0)
    receiver = LocalHttpServer(lambda _request: Response(204)).start()
    hooks = f"{receiver.url}/hooks"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            add_endpoint(conn, "sender", hooks)
            add_jobs(conn, "sender", args.deliveries, with_event=True)  # the trigger fills the outbox
        rates: dict[str, list[float]] = {"1": [], "8": [], "floor": []}
        for _ in range(args.rounds):
            for concurrency in (1, 8):
                reset_outbox(url)
                rates[str(concurrency)].append(await drain(url, settings, concurrency, args.deliveries))
            rates["floor"].append(await floor(hooks, 2.0, 8))
        one, eight, top = (statistics.median(rates[k]) for k in ("1", "8", "floor"))
        print(f"deliveries to a local receiver ({args.deliveries} per run, medians of {args.rounds} rounds)")
        print(f"{'sends at once':>14} {'deliveries/s':>13} {'vs 1':>6} {'of floor':>9}")
        print(f"{1:>14} {one:>13.0f} {1.0:>6.2f} {one / top:>9.2f}")
        print(f"{8:>14} {eight:>13.0f} {eight / one:>6.2f} {eight / top:>9.2f}")
        print(f"{'floor (httpx)':>14} {top:>13.0f} {top / one:>6.2f} {1.0:>9.2f}")

        engine = database.create_engine(
            url, pool_size=args.jobs + 2, max_overflow=4, statement_timeout_ms=10_000
        )
        leases = LeaseQueries(engine)
        bare = await claimed(url, leases, "no-endpoint", args.jobs)
        hooked = await claimed(url, leases, "one-endpoint", args.jobs)
        with psycopg.connect(url, autocommit=True) as conn:
            add_endpoint(conn, "one-endpoint", "https://hooks.example.com/never-sent")
        without: list[float] = []
        with_one: list[float] = []
        for _ in range(args.rounds):
            without.append(await transitions(leases, bare, args.seconds))
            with_one.append(await transitions(leases, hooked, args.seconds))
            bare = [await refreshed(leases, item) for item in bare]
            hooked = [await refreshed(leases, item) for item in hooked]
        await engine.dispose()
        plain, extra = statistics.median(without), statistics.median(with_one)
        print(
            f"\njob transitions ({args.jobs} jobs at once, {args.seconds:g} s each, medians of {args.rounds})"
        )
        print(f"{'':>22} {'transitions/s':>14} {'ratio':>6}")
        print(f"{'no endpoint':>22} {plain:>14.0f} {1.0:>6.2f}")
        print(f"{'one endpoint (all)':>22} {extra:>14.0f} {extra / plain:>6.2f}")
        print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    finally:
        receiver.stop()


async def refreshed(leases: LeaseQueries, item: WorkItem) -> WorkItem:
    """The item as the database has it now (its state after the last round)."""
    job = await leases.current(item.job.id)
    assert job is not None
    return replace(item, job=job)


if __name__ == "__main__":
    asyncio.run(main())

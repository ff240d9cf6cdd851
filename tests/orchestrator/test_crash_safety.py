"""Workers are real processes killed with SIGKILL at random moments; their leases lapse, others redo the
steps, and every job still ends with exactly one stored video (or a clean failure), and every webhook is
delivered at least once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest

from provider_service.fakes import FalFake, VeoFake
from provider_service.local_http import Request, Response
from tests.support.cli import BIN
from tests.support.pipeline import TERMINAL, Pipeline, StartPipeline
from tests.support.webhooks import delivered, register, webhook_receiver
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2

WORKER = [str(BIN), "serve", "worker"]


def _worker_env(stack: Pipeline, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIDEOJOBS_PROVIDER_TARGET": f"127.0.0.1:{stack.provider.port}",
        "VIDEOJOBS_STORAGE_TARGET": f"127.0.0.1:{stack.storage.port}",
        "VIDEOJOBS_BUCKET": stack.bucket.name,
        "VIDEOJOBS_LOG_LEVEL": "ERROR",
        "VIDEOJOBS_LEASE_SECONDS": "1.5",
        "VIDEOJOBS_IDLE_POLL_SECONDS": "0.2",
        "VIDEOJOBS_POLL_INITIAL_SECONDS": "0.05",
        "VIDEOJOBS_POLL_MAX_SECONDS": "0.2",
        "VIDEOJOBS_RETRY_BASE_SECONDS": "0.05",
        "VIDEOJOBS_SUBMIT_UNKNOWN_WAIT_SECONDS": "0.2",
        "VIDEOJOBS_MAX_UNKNOWN_SUBMITS": "3",
        "VIDEOJOBS_WORKER_CONCURRENCY": "8",
        "VIDEOJOBS_LIMITS": "{}",
    }


@pytest.mark.slow
async def test_sigkilled_workers_lose_no_job_and_store_no_duplicate(
    start_stack: StartPipeline, fal_fake: FalFake, veo_fake: VeoFake, database_url: str
) -> None:
    fal_fake.script.polls_to_finish = 1
    veo_fake.script.polls_to_finish = 1
    stack = await start_stack(providers={"fal": fal_fake, "veo": veo_fake}, worker_enabled=False)
    created = await asyncio.gather(
        *(stack.create(user=f"user{i % 10}", providers=["veo" if i % 2 else "fal"]) for i in range(100))
    )
    env = _worker_env(stack, database_url)
    rng = random.Random(2026)

    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*WORKER, env=env)

    workers = [await spawn() for _ in range(3)]
    try:
        for _ in range(10):  # kill one worker at a random moment, start a fresh one
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            victim = workers.pop(rng.randrange(len(workers)))
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            workers.append(await spawn())
        jobs = await asyncio.gather(*(stack.wait(c.job.id, user=c.job.user_id, within=150) for c in created))
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()

    assert all(job.state in TERMINAL for job in jobs)
    completed = [job for job in jobs if job.state == job_service_pb2.COMPLETED]
    assert len(completed) >= 95, [job.error for job in jobs if job.state != job_service_pb2.COMPLETED]
    videos = stack.names("videos/")
    assert len(videos) == len(completed)  # exactly one stored video per completed job, none for the others
    assert sorted(videos) == sorted(f"videos/{key_segment(job.user_id)}/{job.id}.mp4" for job in completed)
    assert len(stack.names("thumbnails/")) == len(completed)
    for job in completed:
        assert stack.names(f"incoming/{job.id}/") == []
        assert [state for _, state in stack.events(job.id)].count("COMPLETED") == 1


STATE_CHANGES = """
    SELECT id FROM (
        SELECT id, state, lag(state) OVER (PARTITION BY job_id ORDER BY id) AS previous FROM job_events
    ) AS events
    WHERE previous IS DISTINCT FROM state
"""


@pytest.mark.slow
async def test_sigkilled_workers_lose_no_webhook_and_repeat_one_only_with_its_webhook_id(
    start_stack: StartPipeline, fal_fake: FalFake, database_url: str
) -> None:
    fal_fake.script.polls_to_finish = 1
    stack = await start_stack(providers={"fal": fal_fake}, worker_enabled=False)

    def slow_answer(_request: Request) -> Response:
        time.sleep(0.02)  # the receiver's own work: sends are in flight when a worker dies
        return Response(204)

    env = {
        **_worker_env(stack, database_url),
        "VIDEOJOBS_WEBHOOK_LEASE_SECONDS": "1.5",
        "VIDEOJOBS_WEBHOOK_POLL_SECONDS": "0.1",
        "VIDEOJOBS_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
        "VIDEOJOBS_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
        "VIDEOJOBS_WEBHOOK_CONCURRENCY": "4",
        # Small pools: this test may run beside the other one, and both share one test Postgres.
        "VIDEOJOBS_DB_POOL_SIZE": "4",
        "VIDEOJOBS_DB_MAX_OVERFLOW": "6",
    }
    rng = random.Random(17)
    with webhook_receiver(answer=slow_answer) as receiver:
        endpoint = await register(stack, receiver.url, ["video.state_changed"])
        created = await asyncio.gather(*(stack.create(providers=["fal"]) for _ in range(100)))

        async def spawn() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(*WORKER, env=env)

        workers = [await spawn() for _ in range(3)]
        try:
            for _ in range(8):
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                workers.append(await spawn())
            await asyncio.gather(*(stack.wait(c.job.id, within=150) for c in created))
            expected = {row[0] for row in stack.sql(STATE_CHANGES)}
            assert len(expected) >= 100 * 2
            # The outbox has exactly one delivery per announced event.
            assert sorted(row[0] for row in stack.sql("SELECT event_id FROM webhook_deliveries")) == sorted(
                expected
            )
            received = await receiver.wait_until(
                lambda got: set(delivered(got, endpoint.secret)) >= expected, within=120
            )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGKILL)
                await worker.wait()

    ids_by_sequence = delivered(received, endpoint.secret)
    assert set(ids_by_sequence) == expected  # every event, and nothing else
    assert all(len(ids) == 1 for ids in ids_by_sequence.values())  # a repeat always has the same webhook-id

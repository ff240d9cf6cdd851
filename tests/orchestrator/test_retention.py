"""Retention against the real stack: finished jobs past the retention period lose exactly their video and
thumbnail and are hidden, hidden jobs past the purge age are purged with their events, a second run is a
no-op, and one replica at a time runs it (workers and `videojobs admin retention --apply` share a lock)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from job_service.upkeep import RETENTION_LOCK_ID
from tests.support.pipeline import Pipeline, StartPipeline, admin
from tests.support.postgres import advisory_lock_held
from tests.support.waiting import eventually
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2


async def completed(stack: Pipeline, count: int) -> list[job_service_pb2.Job]:
    jobs = []
    for _ in range(count):
        job = await stack.run()
        assert job.state == job_service_pb2.COMPLETED, job.error
        jobs.append(job)
    return jobs


def outputs(job: job_service_pb2.Job) -> list[str]:
    return [f"videos/{key_segment('alice')}/{job.id}.mp4", f"thumbnails/{key_segment('alice')}/{job.id}.jpg"]


async def test_admin_retention_expires_old_jobs_and_purges_hidden_ones(
    start_sim_stack: StartPipeline,
) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0)
    old1, old2, recent, hidden = await completed(stack, 4)
    for job in (old1, old2):
        # In a thread: the workers share this event loop, and a row lock they hold must not block it.
        await asyncio.to_thread(
            stack.sql,
            "UPDATE jobs SET end_time = now() - interval '40 days' WHERE id = %s RETURNING id",
            job.id,
        )
    await asyncio.to_thread(
        stack.sql,
        "UPDATE jobs SET deleted_time = now() - interval '10 days' WHERE id = %s RETURNING id",
        hidden.id,
    )
    for job in (hidden, recent):  # the one-off webhook endpoints their creates would have named
        await asyncio.to_thread(
            stack.sql,
            "INSERT INTO webhook_endpoints (id, user_id, url, event_types, secret, job_id)"
            " VALUES (gen_random_uuid(), 'alice', 'https://hooks.example.com/', '{}', 'x', %s) RETURNING id",
            job.id,
        )
    before = stack.names()

    dry = await admin(stack, "retention", "--days", "30", "--purge-days", "7", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert [row["job_id"] for row in report["items"]] == [old1.id, old2.id]
    assert report["summary"]["jobs_expiring"] == 2
    assert report["summary"]["jobs_purgeable"] == 1
    assert stack.names() == before

    applied = await admin(stack, "retention", "--days", "30", "--purge-days", "7", "--apply", "--json")
    assert applied.returncode == 0, applied.stderr
    summary = json.loads(applied.stdout)["summary"]
    assert (summary["jobs_expired"], summary["objects_deleted"], summary["jobs_purged"]) == (2, 4, 1)
    expired = {name for job in (old1, old2) for name in outputs(job)}
    assert stack.names() == sorted(set(before) - expired)  # the recent and the hidden job's objects stay
    for job in (old1, old2):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.get(job.id)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert stack.events(job.id)[-1] == ("expired", "COMPLETED")
    assert (await stack.get(recent.id)).video_url
    assert stack.sql("SELECT count(*) FROM jobs WHERE id = %s", hidden.id) == [(0,)]
    assert stack.sql("SELECT count(*) FROM job_events WHERE job_id = %s", hidden.id) == [(0,)]
    endpoints = stack.sql("SELECT job_id::text FROM webhook_endpoints WHERE job_id IS NOT NULL")
    assert endpoints == [(recent.id,)]  # the purged job's endpoint went with it

    again = await admin(stack, "retention", "--days", "30", "--purge-days", "7", "--apply")
    assert again.returncode == 0, again.stderr
    assert "jobs_expired: 0, objects_deleted: 0, jobs_purged: 0" in again.stdout
    assert stack.names() == sorted(set(before) - expired)


async def test_retention_is_off_unless_configured(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0)
    result = await admin(stack, "retention")
    assert result.returncode != 0
    assert "retention is off" in result.stderr


async def test_workers_run_retention_one_replica_at_a_time(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(
        replicas=2,
        sweep_interval_seconds=0,
        retention_days=30,
        retention_interval_seconds=0.1,
        retention_batch=1,
    )
    jobs = await completed(stack, 3)
    async with advisory_lock_held(stack.database_url, RETENTION_LOCK_ID):
        await asyncio.to_thread(
            stack.sql, "UPDATE jobs SET end_time = now() - interval '40 days' RETURNING id"
        )
        await asyncio.sleep(0.5)
        assert len(stack.names("videos/")) == 3  # held elsewhere: no replica ran
        busy = await admin(stack, "retention", "--days", "30", "--apply")
        assert busy.returncode != 0
        assert "retention is running" in busy.stderr
    live = "SELECT count(*) FROM jobs WHERE deleted_time IS NULL"
    await eventually(lambda: stack.sql(live) == [(0,)], within=15)
    await asyncio.sleep(0.3)  # a few more rounds of both replicas
    assert stack.names("videos/") == stack.names("thumbnails/") == []
    expired = stack.sql(
        "SELECT job_id::text, count(*) FROM job_events WHERE type = 'expired' GROUP BY job_id"
    )
    assert sorted(expired) == sorted((job.id, 1) for job in jobs)  # each once, though two replicas ran

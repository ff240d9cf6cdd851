"""The orphan sweep against the real stack: seeded orphans of each kind are found and only they are deleted,
a completed job whose video is gone is reported and kept, a second run finds nothing, and one sweep at a
time runs (the periodic one in the workers and `videojobs admin sweep --apply` share one advisory lock)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from typing import Any

from job_service.upkeep import SWEEP_LOCK_ID
from tests.support.pipeline import Pipeline, StartPipeline, admin
from tests.support.postgres import advisory_lock_held
from tests.support.waiting import eventually
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2

ALICE = key_segment("alice")


async def admin_sweep(stack: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return await admin(stack, "sweep", "--grace-seconds", "0", *args)


def put(stack: Pipeline, name: str) -> str:
    stack.bucket.blob(name).upload_from_string(b"leftover", content_type="video/mp4")
    return f"gs://{stack.bucket.name}/{name}"


async def seeded(stack: Pipeline) -> dict[str, Any]:
    """Three completed jobs (their outputs stay), one made active again (its incoming/ stays), one whose
    video is deleted behind our back (reported), and one orphan of every kind."""
    jobs = []
    for _ in range(3):
        job = await stack.run()
        assert job.state == job_service_pb2.COMPLETED, job.error
        jobs.append(job)
    done, active, lost = jobs
    stack.sql(
        "UPDATE jobs SET state = 'PROCESSING', due_time = now() + interval '1 day'"
        " WHERE id = %s RETURNING id",
        active.id,
    )
    stack.bucket.blob(f"videos/{ALICE}/{lost.id}.mp4").delete()
    stranger = uuid.uuid4()
    orphans = {
        put(stack, f"incoming/{done.id}/sample_0.mp4"): ("incoming", "job COMPLETED"),
        put(stack, f"incoming/{stranger}/op/sample_0.mp4"): ("incoming", "no such job"),
        put(stack, f"videos/{ALICE}/{stranger}.mp4"): ("video", "no such job"),
        put(stack, f"thumbnails/{ALICE}/{stranger}.jpg"): ("thumbnail", "no such job"),
        put(stack, f"videos/{key_segment('bob')}/{done.id}.mp4"): ("video", "job of another user"),
        put(stack, "incoming/not-a-job/x.mp4"): ("incoming", "name matches no job"),
    }
    kept = put(stack, f"incoming/{active.id}/sample_0.mp4")
    return {"orphans": orphans, "kept": kept, "lost": lost}


async def test_admin_sweep_reports_then_deletes_exactly_the_orphans(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0)
    seed = await seeded(stack)
    before = stack.names()

    dry = await admin_sweep(stack, "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    found = {row["uri"]: (row["kind"], row["reason"]) for row in report["items"]}
    lost = f"gs://{stack.bucket.name}/videos/{ALICE}/{seed['lost'].id}.mp4"
    assert found == seed["orphans"] | {lost: ("missing video", "COMPLETED job, no object")}
    assert report["summary"]["orphans"] == 6
    assert report["summary"]["missing_videos"] == 1
    assert report["summary"]["deleted"] == 0
    assert stack.names() == before  # a dry run deletes nothing

    applied = await admin_sweep(stack, "--apply", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["summary"]["deleted"] == 6
    gone = {uri.removeprefix(f"gs://{stack.bucket.name}/") for uri in seed["orphans"]}
    assert stack.names() == sorted(set(before) - gone)
    assert seed["kept"].removeprefix(f"gs://{stack.bucket.name}/") in stack.names()
    assert stack.sql("SELECT state FROM jobs WHERE id = %s", seed["lost"].id) == [("COMPLETED",)]

    again = await admin_sweep(stack, "--apply")
    assert again.returncode == 0, again.stderr
    assert "orphans: 0" in again.stdout
    assert "deleted: 0" in again.stdout
    assert "missing_videos: 1" in again.stdout
    assert stack.names() == sorted(set(before) - gone)


async def test_young_objects_are_left_alone(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0)
    put(stack, f"incoming/{uuid.uuid4()}/sample_0.mp4")
    result = await admin_sweep(stack, "--json", "--grace-seconds", "3600")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"] == []


async def test_the_workers_sweep_one_replica_at_a_time(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(
        replicas=2,
        sweep_interval_seconds=0.1,
        sweep_grace_seconds=0,
        sweep_batch=2,
    )
    # While an operator holds the sweep lock, no replica sweeps, and the CLI refuses a second --apply.
    async with advisory_lock_held(stack.database_url, SWEEP_LOCK_ID):
        for _ in range(5):
            put(stack, f"incoming/{uuid.uuid4()}/sample_0.mp4")
        await asyncio.sleep(0.5)
        assert len(stack.names("incoming/")) == 5
        busy = await admin_sweep(stack, "--apply")
        assert busy.returncode != 0
        assert "a sweep is running" in busy.stderr
    # Released: the replicas work the backlog off, a bounded batch per round.
    await eventually(lambda: not stack.names("incoming/"), within=15)


async def test_outputs_of_a_live_job_are_never_orphans(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0)
    await stack.run()
    result = await admin_sweep(stack, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"] == []
    assert len(stack.names("videos/")) == len(stack.names("thumbnails/")) == 1


async def test_outputs_of_users_whose_ids_are_urls_or_not_ascii_are_kept(
    start_sim_stack: StartPipeline,
) -> None:
    """Ids an identity provider issues (a URL, `//`, non-ASCII) name their folder through key_segment, and
    the sweep reads it the same way: their live videos are not orphans; a stranger's object in their folder
    is."""
    stack = await start_sim_stack(sweep_interval_seconds=0)
    users = ["https://idp.example.com/users/42", "tenant//user", "ålice☃"]
    for user in users:
        job = await stack.run(user=user)
        assert job.state == job_service_pb2.COMPLETED, job.error
        assert job.video_uri == f"gs://{stack.bucket.name}/videos/{key_segment(user)}/{job.id}.mp4"
    stranger = put(stack, f"videos/{key_segment(users[0])}/{uuid.uuid4()}.mp4")
    before = stack.names()

    result = await admin_sweep(stack, "--apply", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(row["uri"], row["reason"]) for row in report["items"]] == [(stranger, "no such job")]
    assert stack.names() == sorted(set(before) - {stranger.removeprefix(f"gs://{stack.bucket.name}/")})
    assert len(stack.names("videos/")) == len(stack.names("thumbnails/")) == len(users)


async def test_a_video_stored_under_the_raw_user_id_before_key_segment_is_kept(
    start_sim_stack: StartPipeline,
) -> None:
    """Objects stored before folders were named by key_segment are found by the URI their job records."""
    stack = await start_sim_stack(sweep_interval_seconds=0)
    job = await stack.run()
    legacy = put(stack, f"videos/alice/{job.id}.mp4")
    stack.sql("UPDATE jobs SET video_uri = %s WHERE id = %s RETURNING id", legacy, job.id)
    current = f"gs://{stack.bucket.name}/videos/{ALICE}/{job.id}.mp4"

    result = await admin_sweep(stack, "--json")

    assert result.returncode == 0, result.stderr
    found = {row["uri"]: row["reason"] for row in json.loads(result.stdout)["items"]}
    assert found == {current: "job COMPLETED does not use it"}

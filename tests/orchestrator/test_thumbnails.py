"""Thumbnail backfill against the real stack: a thumbnail that cannot be made leaves the job COMPLETED with
its video (no thumbnail URL, the reason in its event), the workers make it once thumbnailing works again, each
job is tried a bounded number of times, and `videojobs admin thumbnails` fills seeded gaps (a second run finds
nothing to do)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from job_service.maintenance_queries import ThumbnailQueries
from job_service.thumbnails import ThumbnailBackfill
from tests.support.pipeline import Pipeline, StartPipeline, admin
from tests.support.waiting import eventually
from videojobs import errors
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2

ALICE = key_segment("alice")
MAX_2 = {"VIDEOJOBS_THUMBNAIL_MAX_ATTEMPTS": "2"}


class BrokenThumbnails:
    """StorageService's CreateThumbnail fails (as for a video whose frames decode to nothing a JPEG can hold)
    while `broken`; every other call of the real service works. Counts the calls it refused."""

    def __init__(self, stack: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
        self.broken = True
        self.refused = 0
        real = stack.storage.storage.thumbnail

        async def thumbnail(*args: Any, **kwargs: Any) -> Any:
            if self.broken:
                self.refused += 1
                raise errors.InvalidArgument.field("video_uri", "no frame of this video can be decoded")
            return await real(*args, **kwargs)

        monkeypatch.setattr(stack.storage.storage, "thumbnail", thumbnail)


async def completed(stack: Pipeline) -> job_service_pb2.Job:
    job = await stack.run()
    assert job.state == job_service_pb2.COMPLETED, job.error
    return job


async def completed_without_thumbnail(
    start_sim_stack: StartPipeline, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> tuple[Pipeline, BrokenThumbnails, job_service_pb2.Job]:
    """A pipeline (job_service `settings`, no sweeps) whose thumbnails fail, and a job completed on it."""
    stack = await start_sim_stack(sweep_interval_seconds=0, **settings)
    thumbnails = BrokenThumbnails(stack, monkeypatch)
    return stack, thumbnails, await completed(stack)


async def until_thumbnail(stack: Pipeline, job_id: str, within: float = 15.0) -> job_service_pb2.Job:
    async with asyncio.timeout(within):
        while True:
            job = await stack.get(job_id)
            if job.thumbnail_uri:
                return job
            await asyncio.sleep(0.05)


def report(result: Any) -> dict[str, Any]:
    assert result.returncode in (0, 1), result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


async def test_a_failed_thumbnail_completes_the_job_and_the_workers_make_it_later(
    start_sim_stack: StartPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, thumbnails, job = await completed_without_thumbnail(
        start_sim_stack, monkeypatch, thumbnail_interval_seconds=0.1, thumbnail_max_attempts=1000
    )

    assert job.video_uri == f"gs://{stack.bucket.name}/videos/{ALICE}/{job.id}.mp4"
    assert job.video_url
    assert job.video.size_bytes > 0
    assert (job.thumbnail_uri, job.thumbnail_url) == ("", "")
    assert not job.HasField("error")
    [(message, detail)] = stack.sql(
        "SELECT message, detail FROM job_events WHERE job_id = %s AND state = 'COMPLETED'", job.id
    )
    assert message == "video stored; no thumbnail yet (it is made again in the background)"
    assert (
        detail["thumbnail_error"]
        == "INVALID_ARGUMENT: invalid request: video_uri: no frame of this video can be decoded"
    )
    assert stack.names("thumbnails/") == []
    # The quota unit stays used: the user got the video.
    assert stack.sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(1,)]

    await eventually(lambda: thumbnails.refused >= 3, within=15)  # the workers keep trying while it fails
    thumbnails.broken = False

    job = await until_thumbnail(stack, job.id)
    assert job.thumbnail_uri == f"gs://{stack.bucket.name}/thumbnails/{ALICE}/{job.id}.jpg"
    assert job.thumbnail_url
    assert stack.names("thumbnails/") == [f"thumbnails/{ALICE}/{job.id}.jpg"]
    assert stack.events(job.id)[-2:] == [("state_changed", "COMPLETED"), ("thumbnail_added", "COMPLETED")]
    [(error,)] = stack.sql("SELECT thumbnail_error FROM jobs WHERE id = %s", job.id)
    assert error is None
    registry = stack.jobs.metrics.registry
    # Counted when the round ends, just after the row is written.
    await eventually(
        lambda: registry.get_sample_value("videojobs_thumbnails_backfilled_total", {"result": "made"}) == 1,
        within=5,
        every=0.02,
    )
    failed = registry.get_sample_value("videojobs_thumbnails_backfilled_total", {"result": "failed"})
    assert failed == thumbnails.refused - 1  # every refusal but the one in FINALIZING was a backfill try


async def test_the_workers_try_a_job_a_bounded_number_of_times_then_leave_it_to_the_admin_command(
    start_sim_stack: StartPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, thumbnails, job = await completed_without_thumbnail(
        start_sim_stack, monkeypatch, thumbnail_interval_seconds=0.05, thumbnail_max_attempts=2
    )

    await eventually(
        lambda: stack.sql("SELECT thumbnail_attempts FROM jobs WHERE id = %s", job.id) == [(2,)], 15
    )
    backfill = ThumbnailBackfill(
        ThumbnailQueries(stack.jobs.engine), stack.jobs.peers.storage, max_attempts=2
    )
    assert await backfill.missing(bounded=True) == []  # no round picks it up again
    assert [missing.id for missing in await backfill.missing()] == [stack.sql("SELECT id FROM jobs")[0][0]]
    assert thumbnails.refused == 3  # finalize once, then two background tries

    dry = report(await admin(stack, "thumbnails", "--json", env=MAX_2))
    assert [(row["job_id"], row["attempts"], row["action"]) for row in dry["items"]] == [
        (job.id, 2, "would make")
    ]
    assert "no frame of this video can be decoded" in dry["items"][0]["detail"]
    assert dry["summary"] == {
        "missing": 1,
        "gave_up": 1,
        "made": 0,
        "failed": 0,
        "skipped": 0,
        "mode": "dry run (use --apply to make them)",
    }

    still_broken = await admin(stack, "thumbnails", "--apply", "--json")
    assert still_broken.returncode == 1
    assert report(still_broken)["summary"]["failed"] == 1
    assert stack.sql("SELECT thumbnail_attempts FROM jobs WHERE id = %s", job.id) == [(3,)]

    thumbnails.broken = False
    fixed = report(await admin(stack, "thumbnails", "--apply", "--json"))
    assert fixed["summary"]["made"] == 1
    assert fixed["items"][0]["detail"] == f"gs://{stack.bucket.name}/thumbnails/{ALICE}/{job.id}.jpg"
    assert (await stack.get(job.id)).thumbnail_url


async def test_admin_thumbnails_fills_seeded_gaps_and_a_second_run_does_nothing(
    start_sim_stack: StartPipeline,
) -> None:
    stack = await start_sim_stack(sweep_interval_seconds=0, thumbnail_interval_seconds=0)
    jobs = [await completed(stack) for _ in range(3)]
    gaps, whole = jobs[:2], jobs[2]
    for job in gaps:  # as a job finished before the backfill existed, or whose thumbnail was lost
        stack.bucket.blob(f"thumbnails/{ALICE}/{job.id}.jpg").delete()
        stack.sql("UPDATE jobs SET thumbnail_uri = NULL WHERE id = %s RETURNING id", job.id)
    hidden = gaps[1]
    stack.sql("UPDATE jobs SET deleted_time = now() WHERE id = %s RETURNING id", hidden.id)
    # A thumbnail that was written but never recorded (its call timed out): the sweep leaves it to the
    # backfill, which records it instead of making another.
    adopted = await completed(stack)
    stack.sql("UPDATE jobs SET thumbnail_uri = NULL WHERE id = %s RETURNING id", adopted.id)
    swept = report(await admin(stack, "sweep", "--grace-seconds", "0", "--json"))
    assert [(item["kind"], item["job_id"]) for item in swept["items"]] == [("video", hidden.id)]
    names = stack.names()

    dry = report(await admin(stack, "thumbnails", "--json"))
    assert [row["job_id"] for row in dry["items"]] == [gaps[0].id, adopted.id]  # a deleted job gets none
    assert stack.names() == names  # a dry run makes nothing

    on_a_terminal = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1"}
    run = await admin(stack, "thumbnails", "--apply", "--json", env=on_a_terminal)
    assert "making thumbnails" in run.stderr  # the progress bar, on stderr only
    applied = report(run)
    assert applied["summary"]["made"] == 2
    assert applied["summary"]["mode"] == "applied"
    assert [row["action"] for row in applied["items"]] == ["made", "made"]
    assert (await stack.get(adopted.id)).thumbnail_uri == adopted.thumbnail_uri
    assert stack.names("thumbnails/") == sorted(
        f"thumbnails/{ALICE}/{job.id}.jpg" for job in (gaps[0], whole, adopted)
    )
    assert (await stack.get(gaps[0].id)).thumbnail_uri.endswith(f"/thumbnails/{ALICE}/{gaps[0].id}.jpg")

    again = await admin(stack, "thumbnails", "--apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "missing thumbnails: nothing found"
    assert again.stdout.splitlines()[-1] == (
        "missing: 0, gave_up: 0, made: 0, failed: 0, skipped: 0, mode: applied"
    )
    assert stack.names("thumbnails/") == sorted(
        f"thumbnails/{ALICE}/{job.id}.jpg" for job in (gaps[0], whole, adopted)
    )

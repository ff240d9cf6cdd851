"""`videojobs admin duplicates` on a database seeded with duplicate groups and their stored objects: a dry run
changes nothing and reports exactly the extras; --apply leaves one job per group and deletes only the extras'
objects; a run stopped part-way is finished by the next; a second --apply does nothing."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud import storage
from psycopg.types.json import Jsonb

from tests.support.cli import Admin
from tests.support.postgres import Sql


@dataclass
class Seeded:
    ids: dict[str, str]
    extras: set[str]
    kept_objects: set[str]
    extra_objects: set[str]


def spec(prompt: str) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "image_uri": "",
        "duration_seconds": 0,
        "aspect_ratio": "16:9",
        "model": "",
        "providers": ["sim"],
    }


def insert_job(
    sql: Sql,
    bucket: storage.Bucket,
    user: str,
    prompt: str,
    state: str,
    hours: float,
    provider_job_id: str | None = None,
    *,
    stored: bool = False,
    uploaded: bool = True,
    allow: bool = False,
) -> tuple[str, set[str]]:
    """One job as an app without deduplication left it, created `hours` ago: (its id, its objects in the
    bucket). `stored` gives it a video and a thumbnail; `uploaded=False` leaves them out of the bucket."""
    job_id = str(uuid.uuid4())
    video = thumbnail = None
    if stored:
        video, thumbnail = f"videos/{user}/{job_id}.mp4", f"thumbnails/{user}/{job_id}.jpg"
        if uploaded:
            bucket.blob(video).upload_from_string(b"video", content_type="video/mp4")
            bucket.blob(thumbnail).upload_from_string(b"jpeg", content_type="image/jpeg")
    finished = state in {"COMPLETED", "FAILED", "CANCELLED"}
    sql(
        "INSERT INTO jobs (id, user_id, spec, state, quota_day, create_time, end_time, provider, "
        "provider_job_id, video_uri, thumbnail_uri, allow_duplicate) VALUES (%s, %s, %s, %s, "
        "current_date, now() - make_interval(secs => %s), CASE WHEN %s THEN now() END, "
        "%s, %s, %s, %s, %s)",
        (
            job_id, user, Jsonb(spec(prompt)), state, hours * 3600, finished,
            provider_job_id and ("fal" if provider_job_id.startswith("fal") else "sim"),
            provider_job_id,
            f"gs://{bucket.name}/{video}" if video else None,
            f"gs://{bucket.name}/{thumbnail}" if thumbnail else None,
            allow,
        ),
    )  # fmt: skip
    return job_id, ({video, thumbnail} if video and thumbnail and uploaded else set())


@pytest.fixture
def seeded(sql: Sql, gcs_bucket: storage.Bucket) -> Seeded:
    """Jobs as an app without deduplication left them (times in hours before now)."""
    rows = [
        # name, user, prompt, state, hours ago, provider job id, stored objects, allow_duplicate
        ("A1", "alice", "a paper boat", "COMPLETED", 40, "v-1", True, False),  # kept: completed, oldest
        ("A2", "alice", "a  paper boat ", "COMPLETED", 39, "v-2", True, False),  # same spec once normalized
        ("A3", "alice", "a paper boat", "FAILED", 38, None, False, False),
        ("A4", "alice", "a paper boat", "PENDING", 37, None, False, False),
        ("B1", "alice", "a paper boat", "COMPLETED", 2, "v-3", True, False),  # 35 h later: its own job
        ("L1", "alice", "a lighthouse", "PROCESSING", 3, "sim-9", False, False),  # kept: in flight
        ("L2", "alice", "a lighthouse", "PENDING", 2.9, None, False, False),
        ("L3", "alice", "a lighthouse", "PENDING", 2.8, None, False, True),  # asked for a duplicate
        ("O1", "bob", "a paper boat", "COMPLETED", 39, "v-4", True, False),  # another user
        ("C1", "carol", "a kite", "CANCELLED", 5, None, False, False),
        ("C2", "carol", "a kite", "PENDING", 4, None, False, False),  # kept: PENDING beats CANCELLED
        ("D1", "dave", "one", "COMPLETED", 6, "fal-app:req-1", False, False),  # one provider job, two jobs
        ("D2", "dave", "two", "COMPLETED", 5, "fal-app:req-1", False, False),
    ]
    ids: dict[str, str] = {}
    objects: dict[str, set[str]] = {}
    for name, user, prompt, state, hours, provider_job_id, stored, allow in rows:
        ids[name], found = insert_job(
            sql, gcs_bucket, user, prompt, state, hours, provider_job_id, stored=stored, allow=allow
        )
        if found:
            objects[name] = found
    # Veo wrote two outputs for A1 (seed 000's duplicate sample_0.mp4); L1's folder holds one.
    for name in (f"incoming/{ids['A1']}/op-a/sample_0.mp4", f"incoming/{ids['A1']}/op-b/sample_0.mp4",
                 f"incoming/{ids['L1']}/op/sample_0.mp4"):  # fmt: skip
        gcs_bucket.blob(name).upload_from_string(b"video", content_type="video/mp4")
    extras = {"A2", "A3", "A4", "L2", "C1"}
    return Seeded(
        ids=ids,
        extras={ids[name] for name in extras},
        kept_objects=set().union(*(found for name, found in objects.items() if name not in extras)),
        extra_objects=set().union(*(found for name, found in objects.items() if name in extras)),
    )


def bucket_names(bucket: storage.Bucket) -> set[str]:
    return {blob.name for blob in bucket.list_blobs() if not blob.name.startswith("incoming/")}


def visible_jobs(sql: Sql) -> dict[str, str]:
    return {
        str(job_id): state for job_id, state in sql("SELECT id, state FROM jobs WHERE deleted_time IS NULL")
    }


def as_json(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def extras_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["job_id"]: item for item in report["items"] if item["kind"] == "extra"}


async def test_a_dry_run_reports_exactly_the_extras_and_changes_nothing(
    admin: Admin, sql: Sql, seeded: Seeded, gcs_bucket: storage.Bucket
) -> None:
    jobs_before, objects_before = sql("SELECT * FROM jobs ORDER BY id"), bucket_names(gcs_bucket)

    report = as_json(await admin("duplicates", "--json"))

    assert sql("SELECT * FROM jobs ORDER BY id") == jobs_before
    assert bucket_names(gcs_bucket) == objects_before
    extras = extras_of(report)
    assert set(extras) == seeded.extras
    kept = {item["job_id"] for item in report["items"] if item["kind"] == "kept"}
    assert kept == {seeded.ids["A1"], seeded.ids["L1"], seeded.ids["C2"]}
    assert extras[seeded.ids["A2"]]["kept"] == seeded.ids["A1"]
    assert extras[seeded.ids["A4"]]["action"] == "would cancel and remove"
    assert extras[seeded.ids["A2"]]["action"] == "would remove"
    assert len(extras[seeded.ids["A2"]]["stored_objects"]) == 2
    summary = report["summary"]
    assert {key: summary[key] for key in summary if key != "mode"} == {
        "groups": 3,
        "extra_jobs": 5,
        "stored_objects": 2,
        "removed_jobs": 0,
        "cancelled_jobs": 0,
        "deleted_objects": 0,
        "shared_provider_job_ids": 1,
        "incoming_folders": 1,
        "failed": 0,
    }
    assert summary["mode"].startswith("dry run")
    [shared] = [item for item in report["items"] if item["kind"] == "shared provider job"]
    assert (shared["provider"], shared["provider_job_id"]) == ("fal", "fal-app:req-1")
    assert shared["job_ids"] == [seeded.ids["D1"], seeded.ids["D2"]]
    [folder] = [item for item in report["items"] if item["kind"] == "incoming folder"]
    assert folder["job_id"] == seeded.ids["A1"]
    assert folder["detail"] == f"gs://{gcs_bucket.name}/incoming/{seeded.ids['A1']}/"
    assert len(folder["outputs"]) == 2


async def test_the_human_report_is_a_table_and_a_summary(admin: Admin, seeded: Seeded) -> None:
    result = await admin("duplicates", extra_env={"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "250"})

    assert result.returncode == 0, result.stderr
    stdout = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # what the terminal shows, without its styles
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("groups: 3, extra_jobs: 5, stored_objects: 2, removed_jobs: 0")
    assert "mode: dry run" in lines[-1]
    for job_id in seeded.extras:
        assert job_id in stdout
    assert "duplicate jobs" in stdout
    assert "scanning users' jobs" in result.stderr  # the progress bar, on a terminal


async def test_apply_keeps_one_job_per_group_and_deletes_only_the_extras_objects(
    admin: Admin, sql: Sql, seeded: Seeded, gcs_bucket: storage.Bucket
) -> None:
    before = visible_jobs(sql)

    report = as_json(await admin("duplicates", "--apply", "--json"))

    summary = report["summary"]
    assert (summary["removed_jobs"], summary["cancelled_jobs"], summary["deleted_objects"]) == (5, 2, 2)
    assert summary["mode"] == "applied"
    assert visible_jobs(sql) == {
        job_id: state for job_id, state in before.items() if job_id not in seeded.extras
    }
    cancelled = {str(job_id) for (job_id,) in sql("SELECT id FROM jobs WHERE state = 'CANCELLED'")}
    assert cancelled >= {seeded.ids["A4"], seeded.ids["L2"]}  # they were unfinished
    assert bucket_names(gcs_bucket) == seeded.kept_objects
    assert not seeded.extra_objects & bucket_names(gcs_bucket)
    # Reported only: the incoming/ folder and the shared provider job are untouched.
    assert len(list(gcs_bucket.list_blobs(prefix="incoming/"))) == 3

    again = as_json(await admin("duplicates", "--apply", "--json"))

    assert extras_of(again) == {}
    assert (again["summary"]["groups"], again["summary"]["removed_jobs"]) == (0, 0)
    assert visible_jobs(sql) == {
        job_id: state for job_id, state in before.items() if job_id not in seeded.extras
    }
    assert bucket_names(gcs_bucket) == seeded.kept_objects


async def test_a_run_stopped_part_way_is_finished_by_the_next(
    admin: Admin, sql: Sql, seeded: Seeded, gcs_bucket: storage.Bucket
) -> None:
    first = as_json(await admin("duplicates", "--apply", "--limit", "2", "--json"))
    rest = as_json(await admin("duplicates", "--apply", "--json"))
    last = as_json(await admin("duplicates", "--apply", "--json"))

    assert first["summary"]["removed_jobs"] == 2
    assert rest["summary"]["removed_jobs"] == 3
    assert last["summary"]["groups"] == 0
    hidden = {str(job_id) for (job_id,) in sql("SELECT id FROM jobs WHERE deleted_time IS NOT NULL")}
    assert hidden == seeded.extras
    assert bucket_names(gcs_bucket) == seeded.kept_objects


async def test_a_shorter_window_finds_fewer_groups(admin: Admin, seeded: Seeded) -> None:
    report = as_json(await admin("duplicates", "--json", "--window", "30m"))

    # A1..A4 are an hour apart; L1/L2 six minutes; C1/C2 an hour.
    kept = [item["job_id"] for item in report["items"] if item["kind"] == "kept"]
    assert kept == [seeded.ids["L1"]]


async def test_a_bad_window_is_a_usage_error(admin: Admin) -> None:
    result = await admin("duplicates", "--window", "a day")

    assert result.returncode == 2
    assert "not a duration" in result.stderr


async def test_extras_left_half_removed_and_extras_in_flight_are_removed_too(
    admin: Admin, sql: Sql, gcs_bucket: storage.Bucket
) -> None:
    """What a run stopped part-way leaves (an extra cancelled but not deleted; one whose objects are gone
    but which is still listed) and an extra a provider is still generating: one --apply removes them all."""
    kept, kept_objects = insert_job(sql, gcs_bucket, "erin", "a kite", "COMPLETED", 4, "sim-1", stored=True)
    cancelled, _ = insert_job(sql, gcs_bucket, "erin", "a kite", "CANCELLED", 3.5)
    emptied, _ = insert_job(
        sql, gcs_bucket, "erin", "a kite", "COMPLETED", 3, "sim-2", stored=True, uploaded=False
    )
    in_flight, _ = insert_job(sql, gcs_bucket, "erin", "a kite", "PROCESSING", 2, "sim-3")

    applied = as_json(await admin("duplicates", "--apply", "--json"))
    again = as_json(await admin("duplicates", "--apply", "--json"))

    assert {item["job_id"]: item["action"] for item in extras_of(applied).values()} == {
        cancelled: "removed",
        emptied: "removed",
        in_flight: "cancelled, removed",
    }
    summary = applied["summary"]
    assert (summary["removed_jobs"], summary["cancelled_jobs"], summary["deleted_objects"]) == (3, 1, 0)
    assert summary["failed"] == 0
    assert visible_jobs(sql) == {kept: "COMPLETED"}
    assert sql("SELECT state FROM jobs WHERE id = %s", (in_flight,)) == [("CANCELLED",)]
    assert bucket_names(gcs_bucket) == kept_objects
    assert (again["summary"]["groups"], again["summary"]["removed_jobs"]) == (0, 0)

"""`videojobs admin jobs list/show/cancel/retry` against a real job_service over gRPC: every user's jobs with
filters and paging, one job of any user, and cancel and retry acting as the owner would (refund, quota), with
tables for people, JSON for scripts, errors on stderr and exit codes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from job_service.server import JobService
from tests.support.cli import Admin, document, table
from tests.support.grpc_client import metadata
from tests.support.postgres import Sql
from tests.support.services import job_stub
from videojobs.v1 import common_pb2, job_service_pb2


@dataclass
class Seeded:
    ids: dict[str, str]


# name, user, state, provider, hours ago
ROWS = [
    ("a-done", "alice", "COMPLETED", "sim", 50),
    ("a-failed", "alice", "FAILED", "fal", 30),
    ("a-pending", "alice", "PENDING", None, 2),
    ("b-cancelled", "bob", "CANCELLED", "veo", 10),
    ("b-running", "bob", "PROCESSING", "veo", 1),
]


@pytest.fixture
async def seeded(job_service: JobService, sql: Sql) -> Seeded:
    """Jobs made through CreateJob, then moved to their states and ages (no worker runs here)."""
    ids: dict[str, str] = {}
    async with job_stub(job_service.port) as stub:
        for name, user, state, provider, hours in ROWS:
            request = job_service_pb2.CreateJobRequest(
                client_request_id=name, spec=common_pb2.VideoSpec(prompt=f"prompt of {name}")
            )
            created = await stub.CreateJob(request, metadata=metadata(user))
            ids[name] = created.job.id
            finished = state in {"COMPLETED", "FAILED", "CANCELLED"}
            sql(
                "UPDATE jobs SET state = %s, provider = %s, "
                "create_time = now() - make_interval(hours => %s), end_time = CASE WHEN %s THEN now() END, "
                "due_time = CASE WHEN %s THEN NULL ELSE due_time END, "
                'error = CASE WHEN %s = \'FAILED\' THEN \'{"code": "PROVIDER_FAILED", "message": "x", '
                '"retryable": true, "violation_reasons": []}\'::jsonb END WHERE id = %s RETURNING id',
                (state, provider, hours, finished, finished, state, created.job.id),
            )
    return Seeded(ids)


async def test_list_shows_every_users_jobs_newest_first_as_a_table(operator: Admin, seeded: Seeded) -> None:
    result = await operator("jobs", "list")

    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["id", "user_id", "state", "provider", "attempt", "create_time", "end_time", "error"]
    assert [(row[0], row[1], row[2], row[3], row[4], row[7]) for row in rows[1:]] == [
        (seeded.ids["b-running"], "bob", "PROCESSING", "veo", "1", ""),
        (seeded.ids["a-pending"], "alice", "PENDING", "", "1", ""),
        (seeded.ids["b-cancelled"], "bob", "CANCELLED", "veo", "1", ""),
        (seeded.ids["a-failed"], "alice", "FAILED", "fal", "1", "PROVIDER_FAILED"),
        (seeded.ids["a-done"], "alice", "COMPLETED", "sim", "1", ""),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[5]) for row in rows[1:])
    assert result.stdout.splitlines()[0] == "jobs"
    assert result.stdout.splitlines()[-1] == "jobs: 5, next_page_token: "
    assert result.stderr == ""


async def test_list_filters_by_user_state_provider_and_time(operator: Admin, seeded: Seeded) -> None:
    async def listed(*args: str) -> list[str]:
        return [job["id"] for job in document(await operator("jobs", "list", "--json", *args))["items"]]

    ids = seeded.ids
    assert await listed("--user", "alice") == [ids["a-pending"], ids["a-failed"], ids["a-done"]]
    assert await listed("--state", "failed", "--state", "CANCELLED") == [ids["b-cancelled"], ids["a-failed"]]
    assert await listed("--provider", "veo") == [ids["b-running"], ids["b-cancelled"]]
    assert await listed("--since", "24h") == [ids["b-running"], ids["a-pending"], ids["b-cancelled"]]
    assert await listed("--user", "bob", "--since", "5h", "--state", "PROCESSING") == [ids["b-running"]]
    assert await listed("--user", "carol") == []


async def test_list_pages_and_follows_every_page_with_all(operator: Admin, seeded: Seeded) -> None:
    first = document(await operator("jobs", "list", "--json", "--page-size", "2"))
    token = first["summary"]["next_page_token"]
    second = document(await operator("jobs", "list", "--json", "--page-size", "2", "--page-token", token))
    every = document(await operator("jobs", "list", "--json", "--page-size", "2", "--all"))

    assert [job["id"] for job in first["items"]] == [seeded.ids["b-running"], seeded.ids["a-pending"]]
    assert first["summary"] == {"jobs": 2, "next_page_token": token}
    assert [job["id"] for job in second["items"]] == [seeded.ids["b-cancelled"], seeded.ids["a-failed"]]
    newest_first = ["b-running", "a-pending", "b-cancelled", "a-failed", "a-done"]
    assert [job["id"] for job in every["items"]] == [seeded.ids[name] for name in newest_first]
    assert every["summary"] == {"jobs": 5, "next_page_token": ""}
    # A token is bound to its filter.
    other = await operator("jobs", "list", "--page-token", token, "--user", "alice")
    assert other.returncode == 1
    assert other.stdout == ""
    assert other.stderr == (
        "Error: INVALID_ARGUMENT: invalid request: page_token: was issued for a different filter; "
        "start again without it\n  page_token: was issued for a different filter; start again without it\n"
    )


async def test_show_prints_one_job_of_any_user(operator: Admin, seeded: Seeded) -> None:
    job_id = seeded.ids["a-failed"]

    shown = document(await operator("jobs", "show", job_id, "--json"))
    human = await operator("jobs", "show", job_id)

    job = shown["item"]
    assert (job["id"], job["user_id"], job["state"], job["provider"]) == (job_id, "alice", "FAILED", "fal")
    assert job["client_request_id"] == "a-failed"
    assert job["spec"]["prompt"] == "prompt of a-failed"
    assert job["error"]["code"] == "PROVIDER_FAILED"
    assert shown["summary"] == {"state": "FAILED"}
    rows = {row[0]: row[1] for row in table(human.stdout)}
    assert (rows["id"], rows["user_id"], rows["state"], rows["error"]) == (
        job_id,
        "alice",
        "FAILED",
        "PROVIDER_FAILED",
    )
    assert rows["prompt"] == "prompt of a-failed"
    assert human.stdout.splitlines()[-1] == "state: FAILED"


async def test_show_of_a_missing_or_malformed_id_fails_with_the_reason_on_stderr(
    operator: Admin, seeded: Seeded
) -> None:
    missing = await operator("jobs", "show", "00000000-0000-4000-8000-000000000000")
    malformed = await operator("jobs", "show", "not-a-uuid")

    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "Error: NOT_FOUND: job 00000000-0000-4000-8000-000000000000 not found\n"
    assert (malformed.returncode, malformed.stdout) == (1, "")
    assert malformed.stderr == (
        "Error: INVALID_ARGUMENT: invalid request: id: must be a job id (UUID)\n"
        "  id: must be a job id (UUID)\n"
    )


async def test_cancel_acts_as_the_owner_would_and_a_finished_job_is_refused(
    operator: Admin, seeded: Seeded, sql: Sql
) -> None:
    job_id = seeded.ids["a-pending"]
    used_before = sql("SELECT used FROM quota_usage WHERE user_id = 'alice'")

    cancelled = document(await operator("jobs", "cancel", job_id, "--json"))
    again = await operator("jobs", "cancel", job_id)

    assert cancelled["item"]["state"] == "CANCELLED"
    assert cancelled["summary"] == {"result": "cancelled", "state": "CANCELLED"}
    assert sql("SELECT state FROM jobs WHERE id = %s", (job_id,)) == [("CANCELLED",)]
    # A job no provider saw gives its unit back, as the owner's own cancel does.
    assert sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(used_before[0][0] - 1,)]
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == "Error: FAILED_PRECONDITION: job is already CANCELLED\n"


async def test_retry_runs_a_failed_job_again_on_the_owners_quota(
    operator: Admin, seeded: Seeded, sql: Sql
) -> None:
    retried = await operator("jobs", "retry", seeded.ids["a-failed"])
    not_retryable = await operator("jobs", "retry", seeded.ids["a-done"])

    assert retried.returncode == 0, retried.stderr
    rows = {row[0]: row[1] for row in table(retried.stdout)}
    assert (rows["state"], rows["attempt"]) == ("PENDING", "2")
    assert retried.stdout.splitlines()[-1] == "result: retried, state: PENDING, attempt: 2"
    assert (not_retryable.returncode, not_retryable.stdout) == (1, "")
    assert not_retryable.stderr == (
        "Error: FAILED_PRECONDITION: only FAILED or CANCELLED jobs can be retried; this one is COMPLETED\n"
    )
    assert sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(4,)]  # three creates, one retry
    # Over the owner's daily limit, a retry is refused with the quota's own error.
    sql("UPDATE quota_usage SET used = 10 WHERE user_id = 'bob' RETURNING used")
    over = await operator("jobs", "retry", seeded.ids["b-cancelled"])
    assert over.returncode == 1
    assert over.stderr.startswith("Error: RESOURCE_EXHAUSTED: daily limit of 10 videos reached (10 used)")


async def test_a_caller_without_the_internal_token_is_refused(operator: Admin, seeded: Seeded) -> None:
    result = await operator("jobs", "list", extra_env={"VIDEOJOBS_INTERNAL_TOKEN": "wrong"})

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: UNAUTHENTICATED: missing or invalid internal token")

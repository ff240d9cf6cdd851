"""CreateJob without a key: a request repeating one of the user's unfinished or recent jobs (same normalized
spec) returns that job, under concurrency too, unless it allows duplicates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.grpc_client import metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, StartJobStub
from videojobs.v1 import common_pb2, job_service_pb2

SPEC = common_pb2.VideoSpec(prompt="a paper boat on a rainy street", duration_seconds=4)
Response = job_service_pb2.CreateJobResponse


def keyless(
    spec: common_pb2.VideoSpec = SPEC, *, allow_duplicate: bool = False
) -> job_service_pb2.CreateJobRequest:
    return job_service_pb2.CreateJobRequest(spec=spec, allow_duplicate=allow_duplicate)


async def test_a_hundred_parallel_keyless_creates_make_one_job_and_use_one_unit(
    stub: JobStub, sql: Sql
) -> None:
    responses = await asyncio.gather(
        *(stub.CreateJob(keyless(), metadata=metadata("alice")) for _ in range(100))
    )

    assert sum(r.created for r in responses) == 1
    assert len({r.job.id for r in responses}) == 1
    duplicates = [r for r in responses if not r.created]
    assert {r.reason for r in duplicates} == {Response.DUPLICATE_REQUEST}
    assert next(r for r in responses if r.created).reason == Response.REASON_UNSPECIFIED
    assert sql("SELECT count(*) FROM jobs") == [(1,)]
    assert sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(1,)]
    assert sql("SELECT count(*) FROM job_events") == [(1,)]


async def test_the_prompt_matches_after_whitespace_is_normalized(stub: JobStub) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    spaced = common_pb2.VideoSpec(
        prompt="  a paper\tboat  on a\u00a0rainy\n street ", duration_seconds=4, aspect_ratio="16:9"
    )

    again = await stub.CreateJob(keyless(spaced), metadata=metadata("alice"))

    assert not again.created
    assert again.reason == Response.DUPLICATE_REQUEST
    assert again.job.id == first.job.id
    assert again.job.spec.prompt == SPEC.prompt  # the existing job, as it was stored


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "a paper boat on a sunny street"},
        {"prompt": "A paper boat on a rainy street"},
        {"duration_seconds": 8},
        {"aspect_ratio": "9:16"},
        {"model": "veo-3.0"},
        {"image_uri": "https://example.com/boat.png"},
        {"providers": ["fal", "sim"]},
    ],
)
async def test_any_other_difference_makes_a_new_job(stub: JobStub, change: dict[str, Any]) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    fields = {
        "prompt": SPEC.prompt,
        "duration_seconds": SPEC.duration_seconds,
        **change,
    }

    other = await stub.CreateJob(keyless(common_pb2.VideoSpec(**fields)), metadata=metadata("alice"))

    assert other.created
    assert other.job.id != first.job.id


async def test_allow_duplicate_makes_a_second_job(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    second = await stub.CreateJob(keyless(allow_duplicate=True), metadata=metadata("alice"))

    assert second.created
    assert second.job.id != first.job.id
    assert sql("SELECT used FROM quota_usage") == [(2,)]
    assert sql("SELECT allow_duplicate FROM jobs ORDER BY create_time") == [(False,), (True,)]


async def test_other_users_are_never_matched(stub: JobStub) -> None:
    alice = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    bob = await stub.CreateJob(keyless(), metadata=metadata("bob"))

    assert bob.created
    assert bob.job.id != alice.job.id


async def test_a_job_made_with_a_key_is_matched_by_a_request_without_one(stub: JobStub) -> None:
    keyed = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k-1", spec=SPEC), metadata=metadata("alice")
    )
    again = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert not again.created
    assert again.job.id == keyed.job.id


async def test_with_a_key_the_spec_is_never_matched(stub: JobStub) -> None:
    """Today's rule for keys stands: a new key is a new job, whatever the spec."""
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    keyed = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k-1", spec=SPEC), metadata=metadata("alice")
    )
    replay = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k-1", spec=SPEC), metadata=metadata("alice")
    )

    assert keyed.created
    assert keyed.job.id != first.job.id
    assert not replay.created
    assert replay.reason == Response.IDEMPOTENT_REPLAY


async def test_an_unfinished_job_is_matched_however_old(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    aged = "create_time = now() - interval '3 hours', state = 'PROCESSING'"
    sql(f"UPDATE jobs SET {aged} WHERE id = '{first.job.id}'")

    again = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert not again.created
    assert again.job.id == first.job.id
    assert again.job.state == job_service_pb2.PROCESSING


async def test_a_finished_job_is_matched_within_the_window_only(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    sql(f"UPDATE jobs SET state = 'COMPLETED', end_time = now() WHERE id = '{first.job.id}'")

    within = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    sql(f"UPDATE jobs SET create_time = now() - interval '61 seconds' WHERE id = '{first.job.id}'")
    after = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert not within.created
    assert within.job.id == first.job.id
    assert within.job.state == job_service_pb2.COMPLETED
    assert after.created
    assert after.job.id != first.job.id
    assert sql("SELECT used FROM quota_usage") == [(2,)]


async def test_the_window_is_a_setting(start_stub: StartJobStub, sql: Sql) -> None:
    stub = await start_stub(dedupe_window_seconds=0)
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    while_pending = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    sql(f"UPDATE jobs SET state = 'FAILED', end_time = now() WHERE id = '{first.job.id}'")
    once_finished = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert not while_pending.created
    assert once_finished.created


async def test_a_deleted_job_is_never_matched(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    sql(f"UPDATE jobs SET state = 'COMPLETED', deleted_time = now() WHERE id = '{first.job.id}'")

    again = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert again.created


async def test_an_unfinished_match_wins_over_a_newer_finished_one(stub: JobStub, sql: Sql) -> None:
    older = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    newer = await stub.CreateJob(keyless(allow_duplicate=True), metadata=metadata("alice"))
    sql(f"UPDATE jobs SET state = 'COMPLETED', end_time = now() WHERE id = '{newer.job.id}'")

    again = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert again.job.id == older.job.id


async def test_a_duplicate_is_returned_even_at_the_quota_limit(start_stub: StartJobStub, sql: Sql) -> None:
    """A match writes nothing and takes no unit, so it is answered before the limits are checked."""
    stub = await start_stub(daily_limit=1, max_active=1)
    first = await stub.CreateJob(keyless(), metadata=metadata("alice"))
    again = await stub.CreateJob(keyless(), metadata=metadata("alice"))

    assert again.job.id == first.job.id
    assert sql("SELECT used FROM quota_usage") == [(1,)]


async def test_rows_written_before_the_fingerprint_existed_have_one(sql: Sql) -> None:
    """The fingerprint is a generated column: rows from before migration 0006 are covered too."""
    for prompt in (" a  b ", "a b"):
        spec = f'{{"prompt": "{prompt}", "providers": ["sim"]}}'
        sql(
            "INSERT INTO jobs (id, user_id, spec, state, quota_day) "
            f"VALUES (gen_random_uuid(), 'u', '{spec}', 'PENDING', current_date)"
        )

    assert sql("SELECT count(DISTINCT spec_fingerprint), count(spec_fingerprint) FROM jobs") == [(1, 2)]

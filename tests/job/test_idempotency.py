"""CreateJob is idempotent on (user, client_request_id), under concurrency too."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.grpc_client import failure, metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, StartJobStub
from videojobs.v1 import common_pb2, job_service_pb2

SPEC = common_pb2.VideoSpec(prompt="a lighthouse in a storm", duration_seconds=4)


def create(key: str, spec: common_pb2.VideoSpec = SPEC) -> job_service_pb2.CreateJobRequest:
    return job_service_pb2.CreateJobRequest(client_request_id=key, spec=spec)


async def test_a_hundred_concurrent_creates_with_one_key_make_one_job(stub: JobStub, sql: Sql) -> None:
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(stub.CreateJob(create(key), metadata=metadata("alice")) for _ in range(100))
    )

    assert sum(r.created for r in responses) == 1
    assert len({r.job.id for r in responses}) == 1
    assert sql("SELECT count(*) FROM jobs") == [(1,)]
    assert sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(1,)]
    assert sql("SELECT count(*) FROM job_events") == [(1,)]


async def test_a_hundred_concurrent_creates_with_distinct_keys_make_a_hundred_jobs(
    start_stub: StartJobStub, sql: Sql
) -> None:
    stub = await start_stub(max_active=1000, daily_limit=1000)
    responses = await asyncio.gather(
        *(stub.CreateJob(create(str(uuid.uuid4())), metadata=metadata("alice")) for _ in range(100))
    )

    assert all(r.created for r in responses)
    assert len({r.job.id for r in responses}) == 100
    assert sql("SELECT count(*) FROM jobs") == [(100,)]
    assert sql("SELECT used FROM quota_usage WHERE user_id = 'alice'") == [(100,)]


async def test_a_replay_returns_the_stored_job_and_uses_no_quota(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(create("k-1"), metadata=metadata("alice"))
    again = await stub.CreateJob(create("k-1"), metadata=metadata("alice"))

    assert first.created
    assert not again.created
    assert again.job == first.job
    assert sql("SELECT used FROM quota_usage") == [(1,)]


async def test_a_replay_with_defaults_spelled_out_is_the_same_request(stub: JobStub) -> None:
    first = await stub.CreateJob(create("k-1"), metadata=metadata("alice"))
    explicit = common_pb2.VideoSpec(
        prompt=SPEC.prompt, duration_seconds=4, aspect_ratio="16:9", providers=list(first.job.spec.providers)
    )

    again = await stub.CreateJob(create("k-1", explicit), metadata=metadata("alice"))

    assert not again.created
    assert again.job.id == first.job.id


async def test_the_same_key_with_a_different_spec_is_refused(stub: JobStub, sql: Sql) -> None:
    first = await stub.CreateJob(create("k-1"), metadata=metadata("alice"))
    other = common_pb2.VideoSpec(prompt="a different video")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateJob(create("k-1", other), metadata=metadata("alice"))

    error = failure(raised.value)
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    info = error.detail(error_details_pb2.ErrorInfo)
    assert info is not None
    assert info.reason == "IDEMPOTENCY_KEY_REUSED"
    assert info.metadata["job_id"] == first.job.id
    assert sql("SELECT count(*) FROM jobs") == [(1,)]


async def test_keys_belong_to_their_user(stub: JobStub, sql: Sql) -> None:
    alice = await stub.CreateJob(create("shared-key"), metadata=metadata("alice"))
    bob = await stub.CreateJob(create("shared-key"), metadata=metadata("bob"))

    assert alice.created
    assert bob.created
    assert alice.job.id != bob.job.id


async def test_calls_without_a_key_that_allow_duplicates_are_always_new(stub: JobStub, sql: Sql) -> None:
    """(Without a key and without allow_duplicate, the spec decides: tests/job/test_duplicates.py.)"""
    request = job_service_pb2.CreateJobRequest(spec=SPEC, allow_duplicate=True)
    first = await stub.CreateJob(request, metadata=metadata("alice"))
    second = await stub.CreateJob(request, metadata=metadata("alice"))

    assert first.job.id != second.job.id
    assert first.job.client_request_id == ""
    assert sql("SELECT count(*) FROM jobs WHERE client_request_id IS NULL") == [(2,)]


async def test_a_new_job_is_pending_with_defaults_filled_in(stub: JobStub) -> None:
    response = await stub.CreateJob(create("k-1"), metadata=metadata("alice"))

    job = response.job
    assert job.state == job_service_pb2.PENDING
    assert job.user_id == "alice"
    assert job.client_request_id == "k-1"
    assert job.attempt == 1
    assert job.spec.aspect_ratio == "16:9"
    assert list(job.spec.providers) == ["sim"]
    assert uuid.UUID(job.id)
    assert job.create_time.seconds > 0
    assert job.update_time == job.create_time

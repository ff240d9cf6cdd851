"""Daily quota and the active-job limit hold under parallel creates; refunds and resets."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.grpc_client import RpcFailure, failure, metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, StartJobStub
from videojobs.v1 import common_pb2, job_service_pb2

SPEC = common_pb2.VideoSpec(prompt="a fox in the snow")


async def _create_many(
    stub: JobStub, count: int, user: str = "alice"
) -> tuple[list[job_service_pb2.CreateJobResponse], list[RpcFailure]]:
    """`count` creates at once: the answers of those that made a job, and the failures of the others."""

    async def one() -> job_service_pb2.CreateJobResponse | RpcFailure:
        try:
            return await stub.CreateJob(
                job_service_pb2.CreateJobRequest(client_request_id=str(uuid.uuid4()), spec=SPEC),
                metadata=metadata(user),
            )
        except grpc.aio.AioRpcError as error:
            return failure(error)

    results = await asyncio.gather(*(one() for _ in range(count)))
    created = [r for r in results if isinstance(r, job_service_pb2.CreateJobResponse)]
    return created, [r for r in results if isinstance(r, RpcFailure)]


async def test_two_hundred_parallel_creates_against_a_daily_limit_of_ten(
    start_stub: StartJobStub, sql: Sql
) -> None:
    stub = await start_stub(daily_limit=10, max_active=1000)
    created, refused = await _create_many(stub, 200)
    assert len(created) == 10
    assert len(refused) == 190
    for error in refused:
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        quota_failure = error.detail(error_details_pb2.QuotaFailure)
        assert quota_failure is not None
        assert quota_failure.violations[0].subject == "user:alice"
        retry = error.detail(error_details_pb2.RetryInfo)
        assert retry is not None
        assert 0 < retry.retry_delay.seconds <= 86_400
        assert error.reason == "DAILY_QUOTA_EXCEEDED"
    assert sql("SELECT count(*) FROM jobs") == [(10,)]

    quota = await stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=metadata("alice"))
    assert (quota.daily_limit, quota.used_today, quota.remaining_today, quota.active) == (10, 10, 0, 10)

    reset = await stub.ResetQuota(
        job_service_pb2.ResetQuotaRequest(user_id="alice"), metadata=metadata("ops", role="admin")
    )
    assert (reset.used_today, reset.remaining_today) == (0, 10)
    created, refused = await _create_many(stub, 3)
    assert (len(created), refused) == (3, [])


async def test_quota_is_per_user(start_stub: StartJobStub) -> None:
    stub = await start_stub(daily_limit=2, max_active=100)
    await _create_many(stub, 5, user="alice")
    created, refused = await _create_many(stub, 2, user="bob")
    assert (len(created), refused) == (2, [])


async def test_a_daily_limit_of_zero_refuses_everything(start_stub: StartJobStub, sql: Sql) -> None:
    stub = await start_stub(daily_limit=0)
    created, refused = await _create_many(stub, 1)
    assert created == []
    assert [error.code for error in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert sql("SELECT count(*) FROM jobs") == [(0,)]


async def test_the_active_job_limit_holds_under_parallel_creates(start_stub: StartJobStub, sql: Sql) -> None:
    stub = await start_stub(daily_limit=1000, max_active=3)
    created, refused = await _create_many(stub, 60)
    assert len(created) == 3
    assert {e.code for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert refused[0].reason == "ACTIVE_JOBS_LIMIT"
    assert refused[0].detail(error_details_pb2.RetryInfo) is not None
    assert refused[0].detail(error_details_pb2.QuotaFailure) is not None
    assert sql("SELECT count(*) FROM jobs") == [(3,)]
    assert sql("SELECT used FROM quota_usage") == [(3,)]  # refused creates took no unit

    # Finishing one (here: cancelling) frees a slot, and exactly one.
    await stub.CancelJob(job_service_pb2.CancelJobRequest(id=created[0].job.id), metadata=metadata("alice"))
    again, _ = await _create_many(stub, 10)
    assert len(again) == 1


async def test_cancelling_a_pending_job_gives_its_unit_back(stub: JobStub, sql: Sql) -> None:
    created = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k", spec=SPEC), metadata=metadata("alice")
    )

    cancelled = await stub.CancelJob(
        job_service_pb2.CancelJobRequest(id=created.job.id), metadata=metadata("alice")
    )

    assert cancelled.state == job_service_pb2.CANCELLED
    assert cancelled.end_time.seconds > 0
    quota = await stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=metadata("alice"))
    assert (quota.used_today, quota.active) == (0, 0)
    assert sql("SELECT type FROM job_events ORDER BY id") == [("created",), ("cancelled",)]


async def test_cancelling_twice_is_a_failed_precondition(stub: JobStub) -> None:
    created = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k", spec=SPEC), metadata=metadata("alice")
    )
    request = job_service_pb2.CancelJobRequest(id=created.job.id)
    await stub.CancelJob(request, metadata=metadata("alice"))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CancelJob(request, metadata=metadata("alice"))

    error = failure(raised.value)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "JOB_TERMINAL"


async def test_reset_quota_is_for_admins_only(stub: JobStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ResetQuota(job_service_pb2.ResetQuotaRequest(user_id="alice"), metadata=metadata("alice"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_quota_reports_the_next_utc_midnight(stub: JobStub) -> None:
    quota = await stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=metadata("alice"))
    resets_at = quota.resets_at.ToDatetime()
    assert (resets_at.hour, resets_at.minute, resets_at.second) == (0, 0, 0)
    assert quota.max_active == 5

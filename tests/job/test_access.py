"""Who may call what: the internal token, the acting user, admins, and API keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from job_service.server import JobService
from tests.support.grpc_client import failure, metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, StartJobService
from videojobs.v1 import common_pb2, job_service_pb2, job_service_pb2_grpc

SPEC = common_pb2.VideoSpec(prompt="waves at dusk")


@pytest.fixture
async def alices_job(stub: JobStub) -> job_service_pb2.Job:
    response = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(client_request_id="k", spec=SPEC), metadata=metadata("alice")
    )
    return response.job


async def test_another_users_job_does_not_exist_for_them(
    stub: JobStub, alices_job: job_service_pb2.Job
) -> None:
    calls: list[tuple[Callable[..., Awaitable[Message]], Message]] = [
        (stub.GetJob, job_service_pb2.GetJobRequest(id=alices_job.id)),
        (stub.CancelJob, job_service_pb2.CancelJobRequest(id=alices_job.id)),
    ]
    for call, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=metadata("mallory"))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    listed = await stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata("mallory"))
    assert list(listed.jobs) == []
    mine = await stub.GetJob(job_service_pb2.GetJobRequest(id=alices_job.id), metadata=metadata("alice"))
    assert mine.state == job_service_pb2.PENDING


async def test_a_missing_job_and_someone_elses_look_the_same(
    stub: JobStub, alices_job: job_service_pb2.Job
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as theirs:
        await stub.GetJob(job_service_pb2.GetJobRequest(id=alices_job.id), metadata=metadata("mallory"))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetJob(
            job_service_pb2.GetJobRequest(id="00000000-0000-4000-8000-000000000000"),
            metadata=metadata("mallory"),
        )
    assert theirs.value.code() == missing.value.code() == grpc.StatusCode.NOT_FOUND
    reasons = {failure(e.value).reason for e in (theirs, missing)}
    assert reasons == {"JOB_NOT_FOUND"}


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
async def test_calls_without_the_internal_token_are_unauthenticated(
    stub: JobStub, token: str | None, sql: Sql
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateJob(
            job_service_pb2.CreateJobRequest(client_request_id="k", spec=SPEC),
            metadata=metadata("alice", token=token),
        )
    error = failure(raised.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "INVALID_INTERNAL_TOKEN"
    assert sql("SELECT count(*) FROM jobs") == [(0,)]


async def test_user_methods_need_a_user(stub: JobStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=metadata(None))
    error = failure(raised.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "USER_REQUIRED"


async def test_the_request_id_is_echoed(stub: JobStub) -> None:
    call = stub.GetQuota(
        job_service_pb2.GetQuotaRequest(), metadata=(*metadata("alice"), ("x-request-id", "req-123"))
    )
    await call
    assert ("x-request-id", "req-123") in tuple(await call.trailing_metadata())


async def test_api_keys_authenticate_to_their_user_and_role(job_service: JobService, stub: JobStub) -> None:
    user_key = await job_service.jobs.mint_api_key("alice")
    admin_key = await job_service.jobs.mint_api_key("ops", admin=True)

    alice = await stub.AuthenticateApiKey(
        job_service_pb2.AuthenticateApiKeyRequest(api_key=user_key), metadata=metadata()
    )
    ops = await stub.AuthenticateApiKey(
        job_service_pb2.AuthenticateApiKeyRequest(api_key=admin_key), metadata=metadata()
    )

    assert (alice.user_id, alice.role) == ("alice", "user")
    assert (ops.user_id, ops.role) == ("ops", "admin")


async def test_keys_are_stored_only_as_hashes(job_service: JobService, sql: Sql) -> None:
    key = await job_service.jobs.mint_api_key("alice")
    stored = sql("SELECT key_hash, prefix FROM api_keys")
    assert len(stored) == 1
    key_hash, prefix = stored[0]
    assert key not in key_hash
    assert len(key_hash) == 64
    assert key.startswith(prefix)
    assert len(prefix) < len(key) // 3


@pytest.mark.parametrize("api_key", ["vj_unknown", "x" * 50])
async def test_unknown_api_keys_are_unauthenticated(stub: JobStub, api_key: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.AuthenticateApiKey(
            job_service_pb2.AuthenticateApiKeyRequest(api_key=api_key), metadata=metadata()
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_retry_and_delete_of_another_users_job_are_not_found(
    stub: JobStub, alices_job: job_service_pb2.Job
) -> None:
    for call in (
        stub.RetryJob(job_service_pb2.RetryJobRequest(id=alices_job.id), metadata=metadata("bob")),
        stub.DeleteJob(job_service_pb2.DeleteJobRequest(id=alices_job.id), metadata=metadata("bob")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_retry_and_delete_of_an_unfinished_job_are_refused(
    stub: JobStub, alices_job: job_service_pb2.Job
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.RetryJob(job_service_pb2.RetryJobRequest(id=alices_job.id), metadata=metadata("alice"))
    assert failure(raised.value).reason == "JOB_NOT_RETRYABLE"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.DeleteJob(job_service_pb2.DeleteJobRequest(id=alices_job.id), metadata=metadata("alice"))
    assert failure(raised.value).reason == "JOB_ACTIVE"


async def test_an_unreachable_database_is_unavailable_with_retry_info(
    start_job_service: StartJobService,
) -> None:
    service = await start_job_service(database_url="postgresql://postgres@127.0.0.1:1/none")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await job_service_pb2_grpc.JobServiceStub(channel).GetQuota(
                job_service_pb2.GetQuotaRequest(), metadata=metadata("alice")
            )
    error = failure(raised.value)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == "DATABASE_UNAVAILABLE"
    assert error.detail(error_details_pb2.RetryInfo) is not None

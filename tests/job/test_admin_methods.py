"""JobService's admin methods (what `videojobs admin jobs/quota/keys` call): admins only, every input checked
with a field-level BadRequest, and another user's job reachable only through them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support.grpc_client import failure, metadata
from tests.support.services import JobStub
from videojobs.v1 import common_pb2, job_service_pb2

ADMIN = metadata("ops", role="admin")


async def test_every_admin_method_refuses_a_user(stub: JobStub) -> None:
    calls: list[tuple[Callable[..., Awaitable[Message]], Message]] = [
        (stub.AdminListJobs, job_service_pb2.AdminListJobsRequest()),
        (stub.AdminGetJob, job_service_pb2.GetJobRequest(id="00000000-0000-4000-8000-000000000000")),
        (stub.AdminCancelJob, job_service_pb2.CancelJobRequest(id="00000000-0000-4000-8000-000000000000")),
        (stub.AdminRetryJob, job_service_pb2.RetryJobRequest(id="00000000-0000-4000-8000-000000000000")),
        (stub.AdminGetQuota, job_service_pb2.AdminGetQuotaRequest(user_id="alice")),
        (stub.GetQueueStats, job_service_pb2.GetQueueStatsRequest()),
        (stub.CreateApiKey, job_service_pb2.CreateApiKeyRequest(user_id="alice")),
        (stub.ListApiKeys, job_service_pb2.ListApiKeysRequest()),
        (
            stub.RevokeApiKey,
            job_service_pb2.RevokeApiKeyRequest(key_id="00000000-0000-4000-8000-000000000000"),
        ),
    ]
    for call, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=metadata("alice"))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
        assert failure(raised.value).reason == "ADMIN_REQUIRED"


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"provider": "vimeo"}, ["provider"]),
        ({"user_id": "u" * 201, "provider": "x"}, ["provider", "user_id"]),
        ({"states": [0]}, ["states[0]"]),
        ({"page_size": -1}, ["page_size"]),
        ({"page_token": "garbage"}, ["page_token"]),
        ({"since": Timestamp(seconds=-5)}, ["since"]),
    ],
)
async def test_admin_list_jobs_checks_its_filter(
    stub: JobStub, request_fields: dict[str, object], fields: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.AdminListJobs(job_service_pb2.AdminListJobsRequest(**request_fields), metadata=ADMIN)  # type: ignore[arg-type]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure(raised.value).fields == fields


async def test_keys_and_quota_check_their_fields(stub: JobStub) -> None:
    cases: list[tuple[Callable[..., Awaitable[Message]], Message, str]] = [
        (stub.AdminGetQuota, job_service_pb2.AdminGetQuotaRequest(), "user_id"),
        (stub.CreateApiKey, job_service_pb2.CreateApiKeyRequest(), "user_id"),
        (stub.CreateApiKey, job_service_pb2.CreateApiKeyRequest(user_id="u" * 201), "user_id"),
        (stub.ListApiKeys, job_service_pb2.ListApiKeysRequest(page_token="x"), "page_token"),
        (stub.RevokeApiKey, job_service_pb2.RevokeApiKeyRequest(key_id="k"), "key_id"),
        (stub.AdminGetJob, job_service_pb2.GetJobRequest(id="j"), "id"),
    ]
    for call, request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=ADMIN)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert failure(raised.value).fields == [field]


async def test_an_admin_reaches_any_users_job_and_lists_across_users(stub: JobStub) -> None:
    jobs = {}
    for user in ("alice", "bob"):
        request = job_service_pb2.CreateJobRequest(spec=common_pb2.VideoSpec(prompt=f"{user}'s boat"))
        jobs[user] = (await stub.CreateJob(request, metadata=metadata(user))).job

    shown = await stub.AdminGetJob(job_service_pb2.GetJobRequest(id=jobs["bob"].id), metadata=ADMIN)
    listed = await stub.AdminListJobs(job_service_pb2.AdminListJobsRequest(), metadata=ADMIN)
    alices = await stub.AdminListJobs(job_service_pb2.AdminListJobsRequest(user_id="alice"), metadata=ADMIN)
    cancelled = await stub.AdminCancelJob(
        job_service_pb2.CancelJobRequest(id=jobs["alice"].id), metadata=ADMIN
    )

    assert (shown.id, shown.user_id) == (jobs["bob"].id, "bob")
    assert [job.id for job in listed.jobs] == [jobs["bob"].id, jobs["alice"].id]
    assert [job.id for job in alices.jobs] == [jobs["alice"].id]
    assert cancelled.state == job_service_pb2.CANCELLED
    # The owner sees the cancel; an admin's plain GetJob stays scoped to the admin's own jobs.
    mine = await stub.GetJob(job_service_pb2.GetJobRequest(id=jobs["alice"].id), metadata=metadata("alice"))
    assert mine.state == job_service_pb2.CANCELLED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetJob(job_service_pb2.GetJobRequest(id=jobs["bob"].id), metadata=ADMIN)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

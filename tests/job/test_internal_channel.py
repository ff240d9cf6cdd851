"""Internal channels add the token and propagate the request id, over a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from job_service.server import JobService
from videojobs import context
from videojobs.clients import internal_channel
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc


@pytest.fixture
async def channel(job_service: JobService) -> AsyncIterator[grpc.aio.Channel]:
    async with internal_channel(f"127.0.0.1:{job_service.port}", DEV_INTERNAL_TOKEN) as channel:
        yield channel


async def test_token_added_and_request_id_propagated(channel: grpc.aio.Channel) -> None:
    stub = job_service_pb2_grpc.JobServiceStub(channel)
    token = context.request_id.set("req-123")
    try:
        call = stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=(("x-user-id", "alice"),))
        quota = await call
        trailers = dict(await call.trailing_metadata())
    finally:
        context.request_id.reset(token)
    assert quota.remaining_today == quota.daily_limit
    assert trailers["x-request-id"] == "req-123"


async def test_wrong_token_is_unauthenticated(job_service: JobService) -> None:
    async with internal_channel(f"127.0.0.1:{job_service.port}", "not-the-token") as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=(("x-user-id", "alice"),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

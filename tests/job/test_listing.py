"""ListJobs: newest first, the caller's only, AIP-158 paging with opaque tokens bound to the filter."""

from __future__ import annotations

import grpc
import pytest

from tests.support.grpc_client import metadata
from tests.support.services import JobStub, StartJobStub
from videojobs.v1 import common_pb2, job_service_pb2


async def _create(stub: JobStub, count: int, user: str = "alice") -> list[str]:
    ids = []
    for index in range(count):
        response = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                client_request_id=f"{user}-{index}", spec=common_pb2.VideoSpec(prompt=f"video {index}")
            ),
            metadata=metadata(user),
        )
        ids.append(response.job.id)
    return ids


@pytest.fixture
async def roomy_stub(start_stub: StartJobStub) -> JobStub:
    return await start_stub(max_active=100, daily_limit=100)


async def test_paging_walks_every_job_once_newest_first(roomy_stub: JobStub) -> None:
    created = await _create(roomy_stub, 45)
    await _create(roomy_stub, 3, user="bob")

    seen, token, pages = [], "", 0
    while True:
        page = await roomy_stub.ListJobs(
            job_service_pb2.ListJobsRequest(page_size=20, page_token=token), metadata=metadata("alice")
        )
        seen += [job.id for job in page.jobs]
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert pages == 3
    assert seen == list(reversed(created))


async def test_the_default_page_is_twenty_and_the_maximum_a_hundred(roomy_stub: JobStub) -> None:
    await _create(roomy_stub, 25)
    default = await roomy_stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata("alice"))
    huge = await roomy_stub.ListJobs(
        job_service_pb2.ListJobsRequest(page_size=10_000), metadata=metadata("alice")
    )
    assert len(default.jobs) == 20
    assert default.next_page_token
    assert len(huge.jobs) == 25
    assert huge.next_page_token == ""


async def test_listing_filters_by_state(roomy_stub: JobStub) -> None:
    ids = await _create(roomy_stub, 4)
    await roomy_stub.CancelJob(job_service_pb2.CancelJobRequest(id=ids[1]), metadata=metadata("alice"))

    cancelled = await roomy_stub.ListJobs(
        job_service_pb2.ListJobsRequest(states=[job_service_pb2.CANCELLED]), metadata=metadata("alice")
    )
    pending = await roomy_stub.ListJobs(
        job_service_pb2.ListJobsRequest(states=[job_service_pb2.PENDING]), metadata=metadata("alice")
    )

    assert [job.id for job in cancelled.jobs] == [ids[1]]
    assert [job.id for job in pending.jobs] == [ids[3], ids[2], ids[0]]


async def test_a_token_only_works_with_the_filter_it_came_from(roomy_stub: JobStub) -> None:
    await _create(roomy_stub, 3)
    page = await roomy_stub.ListJobs(job_service_pb2.ListJobsRequest(page_size=1), metadata=metadata("alice"))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await roomy_stub.ListJobs(
            job_service_pb2.ListJobsRequest(
                page_size=1, page_token=page.next_page_token, states=[job_service_pb2.CANCELLED]
            ),
            metadata=metadata("alice"),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

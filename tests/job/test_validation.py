"""Bad input is INVALID_ARGUMENT naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.grpc_client import failure, metadata
from tests.support.postgres import Sql
from tests.support.services import JobStub, StartJobStub
from videojobs.v1 import common_pb2, job_service_pb2

GOOD = {"prompt": "a red kite over hills"}
NOTHING_WRITTEN = """
    SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_events), (SELECT count(*) FROM quota_usage)
"""

CREATE_CASES = [
    ("empty prompt", "k", {"prompt": ""}, "spec.prompt"),
    ("blank prompt", "k", {"prompt": "   "}, "spec.prompt"),
    ("2001-char prompt", "k", {"prompt": "x" * 2001}, "spec.prompt"),
    ("NUL in the prompt", "k", {"prompt": "a\x00b"}, "spec.prompt"),
    ("bad aspect ratio", "k", {**GOOD, "aspect_ratio": "4:3"}, "spec.aspect_ratio"),
    ("negative duration", "k", {**GOOD, "duration_seconds": -5}, "spec.duration_seconds"),
    ("too long", "k", {**GOOD, "duration_seconds": 61}, "spec.duration_seconds"),
    ("unknown provider", "k", {**GOOD, "providers": ["sim", "sora"]}, "spec.providers[1]"),
    ("repeated provider", "k", {**GOOD, "providers": ["sim", "sim"]}, "spec.providers"),
    ("http image", "k", {"image_uri": "http://example.com/cat.png"}, "spec.image_uri"),
    ("file image", "k", {"image_uri": "file:///etc/passwd"}, "spec.image_uri"),
    ("image without host", "k", {"image_uri": "https:///cat.png"}, "spec.image_uri"),
    ("bad model", "k", {**GOOD, "model": "veo 3; drop"}, "spec.model"),
    ("model climbing out", "k", {**GOOD, "model": "fal-ai/../../admin/secret-endpoint"}, "spec.model"),
    ("model with a dot segment", "k", {**GOOD, "model": "fal-ai/./kling"}, "spec.model"),
    ("model with an empty segment", "k", {**GOOD, "model": "fal-ai//kling"}, "spec.model"),
    ("model ending in a slash", "k", {**GOOD, "model": "fal-ai/kling/"}, "spec.model"),
    ("NUL in the image", "k", {"image_uri": "https://example.com/a\x00.png"}, "spec.image_uri"),
    ("control character in the image", "k", {"image_uri": "https://example.com/a\n.png"}, "spec.image_uri"),
    ("image in a bucket not accepted", "k", {"image_uri": "gs://someone-elses/cat.png"}, "spec.image_uri"),
    ("image in our own bucket", "k", {"image_uri": "gs://videojobs-dev/videos/x/y.mp4"}, "spec.image_uri"),
    ("key with spaces", "not a key", GOOD, "client_request_id"),
    ("key too long", "k" * 201, GOOD, "client_request_id"),
]


@pytest.mark.parametrize(("case", "key", "spec", "field"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
async def test_bad_create_requests_name_the_field_and_write_nothing(
    stub: JobStub, sql: Sql, case: str, key: str, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateJob(
            job_service_pb2.CreateJobRequest(client_request_id=key, spec=common_pb2.VideoSpec(**spec)),
            metadata=metadata("alice"),
        )

    error = failure(raised.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert field in [v.field for v in bad_request.field_violations]
    assert error.detail(error_details_pb2.ErrorInfo) is not None
    assert sql(NOTHING_WRITTEN) == [(0, 0, 0)]


async def test_every_problem_is_reported_at_once(stub: JobStub) -> None:
    spec = common_pb2.VideoSpec(prompt="", aspect_ratio="2:1", duration_seconds=-1)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), metadata=metadata("alice"))
    fields = set(failure(raised.value).fields)
    assert fields == {"spec.prompt", "spec.aspect_ratio", "spec.duration_seconds"}


async def test_an_image_alone_is_enough(stub: JobStub) -> None:
    spec = common_pb2.VideoSpec(image_uri="https://example.com/cat.png")
    response = await stub.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), metadata=metadata("alice"))
    assert response.created


async def test_gs_images_come_only_from_the_configured_buckets(start_stub: StartJobStub) -> None:
    stub = await start_stub(image_buckets=("app-uploads",))

    async def create(uri: str) -> job_service_pb2.CreateJobResponse:
        spec = common_pb2.VideoSpec(image_uri=uri)
        return await stub.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), metadata=metadata("alice"))

    assert (await create("gs://app-uploads/alice/cat.png")).created
    for refused in ("gs://app-uploads-2/cat.png", "gs://app-uploads/../x/cat.png", "gs://app-uploads/"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await create(refused)
        assert failure(raised.value).fields == ["spec.image_uri"], refused


async def test_a_well_formed_catalog_model_id_is_accepted(stub: JobStub) -> None:
    spec = common_pb2.VideoSpec(prompt="a kite", model="fal-ai/kling-video/v2.1/master/text-to-video")
    response = await stub.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), metadata=metadata("alice"))
    assert response.job.spec.model == "fal-ai/kling-video/v2.1/master/text-to-video"


async def test_a_2000_char_prompt_is_fine(stub: JobStub) -> None:
    spec = common_pb2.VideoSpec(prompt="é" * 2000)
    response = await stub.CreateJob(job_service_pb2.CreateJobRequest(spec=spec), metadata=metadata("alice"))
    assert response.job.spec.prompt == "é" * 2000


LIST_CASES = [
    ("negative page size", {"page_size": -1}, "page_size"),
    ("garbage token", {"page_token": "not-a-token!"}, "page_token"),
    ("forged token", {"page_token": "eyJ0IjoiMjAyNiJ9"}, "page_token"),
    ("unspecified state", {"states": [job_service_pb2.JOB_STATE_UNSPECIFIED]}, "states[0]"),
    ("unknown state", {"states": [job_service_pb2.PENDING, 99]}, "states[1]"),
]


@pytest.mark.parametrize(("case", "request_fields", "field"), LIST_CASES, ids=[c[0] for c in LIST_CASES])
async def test_bad_list_requests_name_the_field(
    stub: JobStub, case: str, request_fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListJobs(job_service_pb2.ListJobsRequest(**request_fields), metadata=metadata("alice"))
    error = failure(raised.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]


@pytest.mark.parametrize("job_id", ["", "42", "not-a-uuid"])
async def test_bad_job_ids_are_invalid(stub: JobStub, job_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetJob(job_service_pb2.GetJobRequest(id=job_id), metadata=metadata("alice"))
    error = failure(raised.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["id"]


async def test_reset_quota_needs_a_user_id(stub: JobStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ResetQuota(job_service_pb2.ResetQuotaRequest(), metadata=metadata("ops", role="admin"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

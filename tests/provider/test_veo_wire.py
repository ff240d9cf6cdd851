"""Veo details a production run would meet: domain-scoped projects, RetryInfo in error bodies."""

from __future__ import annotations

import uuid

import grpc
from google.cloud import storage
from google.rpc import error_details_pb2

from provider_service.fakes import Fault, VeoFake
from tests.provider.conftest import MD, rpc_failure
from tests.support.providers import StartProviderService, provider_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus


async def test_a_domain_scoped_project_submits_and_polls(
    start_provider_service: StartProviderService, veo_fake: VeoFake, gcs_bucket: storage.Bucket
) -> None:
    veo_fake.script.polls_to_finish = 0
    service = await start_provider_service(veo=veo_fake, veo_project="example.com:video-jobs")
    async with provider_stub(service.port) as stub:
        job = await stub.SubmitGeneration(
            pb.SubmitGenerationRequest(
                provider="veo",
                spec=common_pb2.VideoSpec(prompt="x"),
                output_uri_prefix=f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/",
            ),
            metadata=MD,
        )
        assert job.provider_job_id.startswith("projects/example.com:video-jobs/locations/us-central1/")
        status = await stub.GetGenerationStatus(
            pb.GetGenerationStatusRequest(provider="veo", provider_job_id=job.provider_job_id), metadata=MD
        )
        assert status.state == State.SUCCEEDED
        # What never names one project segment is still refused before any call.
        for bad in (
            "projects/../locations/us-central1/publishers/google/models/m/operations/o",
            "projects/p?x=1/locations/us-central1/publishers/google/models/m/operations/o",
        ):
            failure = await rpc_failure(
                stub.GetGenerationStatus, pb.GetGenerationStatusRequest(provider="veo", provider_job_id=bad)
            )
            assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert veo_fake.calls["status"] == 1


async def test_retry_delay_comes_from_the_error_body(
    start_provider_service: StartProviderService, veo_fake: VeoFake, gcs_bucket: storage.Bucket
) -> None:
    """Google answers 429/503 with google.rpc.RetryInfo in `error.details` and no Retry-After header."""
    service = await start_provider_service(veo=veo_fake)
    prefix = f"gs://{gcs_bucket.name}/incoming/{uuid.uuid4()}/"
    submit = pb.SubmitGenerationRequest(
        provider="veo", spec=common_pb2.VideoSpec(prompt="x"), output_uri_prefix=prefix
    )
    async with provider_stub(service.port) as stub:
        veo_fake.fail_next("submit", Fault("429", retry_after=30))
        refused = await rpc_failure(stub.SubmitGeneration, submit)
        job = await stub.SubmitGeneration(submit, metadata=MD)
        veo_fake.fail_next("status", Fault("503", retry_after=12.5))
        down = await rpc_failure(
            stub.GetGenerationStatus,
            pb.GetGenerationStatusRequest(provider="veo", provider_job_id=job.provider_job_id),
        )
    for failure, seconds, nanos in ((refused, 30, 0), (down, 12, 500_000_000)):
        assert failure.code == grpc.StatusCode.UNAVAILABLE
        retry = failure.detail(error_details_pb2.RetryInfo)
        assert retry is not None
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (seconds, nanos)
    # A wait longer than one RPC may hold goes back to the caller at once: one call each, not a retry loop.
    assert veo_fake.calls["submit"] == 2
    assert veo_fake.calls["status"] == 1
    assert veo_fake.submissions == 1

"""fal keeps a request under its app: `owner/app`, or `namespace/owner/app` for workflows and comfy."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from provider_service.adapters.fal import app_of
from provider_service.fakes import FalFake
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, Generations, StartProviderService, provider_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb


@pytest.mark.parametrize(
    ("model", "app"),
    [
        ("fal-ai/kling-video/v2.1/master/image-to-video", "fal-ai/kling-video"),
        ("fal-ai/veo3", "fal-ai/veo3"),
        ("workflows/acme/storyboard", "workflows/acme/storyboard"),
        ("comfy/acme/animate/v2", "comfy/acme/animate"),
    ],
)
def test_an_endpoint_ids_app_is_its_first_two_segments_or_three_when_namespaced(model: str, app: str) -> None:
    assert app_of(model) == app


async def test_namespaced_endpoint_is_polled_and_cancelled_under_its_app(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    # No namespaced endpoint is in the catalog, so the request is filed in the queue directly (as a submit
    # to `workflows/acme/storyboard/video` would file it) and the service only polls and cancels it.
    service = await start_provider_service(fal=fal_fake)
    job = fal_fake.new_job("req-1", {"prompt": "a lighthouse at dusk"})
    job.extra["app"] = "workflows/acme/storyboard"
    job_id = "workflows/acme/storyboard:req-1"
    async with provider_stub(service.port) as stub:
        states = []
        for _ in range(fal_fake.script.polls_to_finish + 1):
            status = await stub.GetGenerationStatus(
                pb.GetGenerationStatusRequest(provider="fal", provider_job_id=job_id), metadata=MD, timeout=10
            )
            states.append(status.state)
        assert states[-1] == pb.GenerationStatus.SUCCEEDED, states
        assert status.output_uris

        # The queue answers only under the app the request was submitted to.
        failure = await rpc_failure(
            stub.GetGenerationStatus,
            pb.GetGenerationStatusRequest(provider="fal", provider_job_id="acme/storyboard:req-1"),
        )
        assert failure.code == grpc.StatusCode.NOT_FOUND


async def test_a_model_outside_the_catalog_is_not_sent(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    service = await start_provider_service(fal=fal_fake)
    spec = common_pb2.VideoSpec(prompt="a lighthouse at dusk", model="workflows/acme/storyboard/video")
    async with provider_stub(service.port) as stub:
        failure = await Generations(stub, "fal").submit_failure(spec)
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    info = failure.detail(error_details_pb2.ErrorInfo)
    assert info is not None
    assert (info.reason, info.metadata["field"]) == ("UNSUPPORTED_SPEC", "spec.model")
    assert "fal-ai/kling-video/v2.1/master/text-to-video" in failure.message  # names what is offered
    assert fal_fake.calls["submit"] == 0


@pytest.mark.parametrize(
    "model",
    ["fal-ai/../../admin/secret-endpoint", "fal-ai/kling-video/v2.1/master/../../../admin", "fal-ai//kling"],
)
async def test_a_model_id_that_climbs_out_of_the_queue_path_is_never_sent(
    start_provider_service: StartProviderService, fal_fake: FalFake, model: str
) -> None:
    """The issue's `fal-ai/../../admin/secret-endpoint` made a POST to /admin/secret-endpoint with our key."""
    service = await start_provider_service(fal=fal_fake)
    spec = common_pb2.VideoSpec(prompt="a lighthouse at dusk", model=model)
    async with provider_stub(service.port) as stub:
        failure = await Generations(stub, "fal").submit_failure(spec)
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "UNSUPPORTED_SPEC"
    assert fal_fake.calls["submit"] == 0

"""Bad input is INVALID_ARGUMENT with field violations; what we cannot do here is FAILED_PRECONDITION."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pydantic
import pytest

from provider_service.fakes import RunwayFake
from provider_service.settings import ProviderServiceSettings
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, Generations, StartProviderService, started_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb


@pytest.fixture
async def stub(start_provider_service: StartProviderService, runway_fake: RunwayFake) -> AsyncIterator[Any]:
    async with started_stub(start_provider_service, runway=runway_fake) as stub:
        yield stub


async def test_an_unknown_provider_is_invalid_argument_on_every_call(stub: Any) -> None:
    spec = common_pb2.VideoSpec(prompt="x")
    for call, request in [
        (stub.SubmitGeneration, pb.SubmitGenerationRequest(provider="sora", spec=spec)),
        (stub.GetGenerationStatus, pb.GetGenerationStatusRequest(provider="", provider_job_id="1")),
        (stub.CancelGeneration, pb.CancelGenerationRequest(provider="nope", provider_job_id="1")),
        (stub.ParseWebhook, pb.ParseWebhookRequest(provider="nope", body=b"{}")),
    ]:
        failure = await rpc_failure(call, request)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert set(failure.fields) == {"provider"}


async def test_an_empty_or_foreign_provider_job_id_is_invalid_argument(stub: Any) -> None:
    for job_id in ["", "   ", "../../etc/passwd", "a/b?c=d"]:
        for call, request in [
            (
                stub.GetGenerationStatus,
                pb.GetGenerationStatusRequest(provider="runway", provider_job_id=job_id),
            ),
            (stub.CancelGeneration, pb.CancelGenerationRequest(provider="runway", provider_job_id=job_id)),
        ]:
            failure = await rpc_failure(call, request)
            assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, job_id
            assert set(failure.fields) == {"provider_job_id"}


@pytest.mark.parametrize(
    ("spec", "prefix", "fields"),
    [
        (common_pb2.VideoSpec(), "", {"spec.prompt"}),
        (common_pb2.VideoSpec(prompt="x" * 2001), "", {"spec.prompt"}),
        (common_pb2.VideoSpec(prompt="x", image_uri="file:///etc/passwd"), "", {"spec.image_uri"}),
        (common_pb2.VideoSpec(prompt="x", duration_seconds=-1), "", {"spec.duration_seconds"}),
        (common_pb2.VideoSpec(prompt="x", aspect_ratio="4:3"), "", {"spec.aspect_ratio"}),
        (common_pb2.VideoSpec(prompt="x"), "/tmp/out", {"output_uri_prefix"}),
        (
            common_pb2.VideoSpec(aspect_ratio="2:1", duration_seconds=999),
            "",
            {"spec.prompt", "spec.aspect_ratio", "spec.duration_seconds"},
        ),
    ],
)
async def test_a_malformed_spec_names_its_fields_and_reaches_no_provider(
    stub: Any, runway_fake: RunwayFake, spec: Any, prefix: str, fields: set[str]
) -> None:
    request = pb.SubmitGenerationRequest(provider="runway", spec=spec, output_uri_prefix=prefix)
    failure = await rpc_failure(stub.SubmitGeneration, request)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.fields) == fields
    assert runway_fake.calls["submit"] == 0, "nothing reached the provider"


async def test_unconfigured_provider_is_failed_precondition(stub: Any) -> None:
    failure = await rpc_failure(
        stub.SubmitGeneration,
        pb.SubmitGenerationRequest(provider="fal", spec=common_pb2.VideoSpec(prompt="x")),
    )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "FAL_KEY" in failure.message
    assert failure.reason == "PROVIDER_NOT_CONFIGURED"


async def test_spec_the_provider_cannot_run_is_unsupported(stub: Any, runway_fake: RunwayFake) -> None:
    spec = common_pb2.VideoSpec(prompt="x", image_uri="gs://bucket/cat.png")
    failure = await Generations(stub, "runway").submit_failure(spec)
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "UNSUPPORTED_SPEC"
    assert runway_fake.calls["submit"] == 0


async def test_list_providers_reports_configuration(stub: Any) -> None:
    reply = await stub.ListProviders(pb.ListProvidersRequest(), metadata=MD)
    configured = {p.name: (p.configured, p.detail) for p in reply.providers}
    assert configured["runway"] == (True, "")
    assert configured["fal"] == (False, "FAL_KEY is not set")
    assert set(configured) == {"veo", "fal", "runway", "sim"}


async def test_calls_need_the_internal_token(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListProviders(pb.ListProvidersRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_input_wins_over_configuration(stub: Any) -> None:
    """A malformed spec is INVALID_ARGUMENT even for a provider this deployment lacks; every field named."""
    bad = common_pb2.VideoSpec(aspect_ratio="2:1")
    failure = await Generations(stub, "fal").submit_failure(bad)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.fields) == {"spec.prompt", "spec.aspect_ratio"}
    failure = await Generations(stub, "sora").submit_failure(bad)
    assert set(failure.fields) == {"provider", "spec.prompt", "spec.aspect_ratio"}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("fal_text_model", "fal-ai/not-offered"),
        ("fal_image_model", "fal-ai/kling-video/v2.1/master/text-to-video"),  # a text model for images
        ("runway_text_model", "gen4_turbo"),  # image-to-video only
        ("veo_model", "veo-4"),
    ],
)
def test_default_models_outside_the_catalog_refuse_to_start(setting: str, value: str) -> None:
    options: dict[str, Any] = {setting: value}
    with pytest.raises(pydantic.ValidationError, match="is not in the catalog"):
        ProviderServiceSettings(**options)

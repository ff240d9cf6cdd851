"""Every catalog model, through the real adapter to a strict fake, for durations 0, 4, 5, 6, 8, 10 and every
aspect ratio: the provider accepts the request, or we refuse it first with UNSUPPORTED_SPEC; never a 4xx.

The fakes validate each body against the providers' published types (provider_service/catalog/sources), not
against anything the adapters use, so a wrong wire form (an integer where fal declares "5", 960:960 where
gen4.5 takes 1280:720 or 720:1280, a missing required duration) fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from provider_service import catalog
from provider_service.fakes import FakeProvider, FalFake, RunwayFake, VeoFake
from provider_service.sim.server import SimProvider
from tests.support.grpc_client import failure
from tests.support.providers import MD, StartProviderService, provider_stub
from videojobs.effective import EffectiveSpec
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

DURATIONS = (0, 4, 5, 6, 8, 10)
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGES = {"veo": "gs://images/cat.png"}  # the others take https
CASES = [(m.provider, m.id, mode) for m in catalog.load().models for mode in m.modes]


@dataclass
class Everything:
    stub: Any
    fakes: dict[str, FakeProvider]


@pytest.fixture
async def everything(
    start_provider_service: StartProviderService,
    fal_fake: FalFake,
    runway_fake: RunwayFake,
    veo_fake: VeoFake,
    sim_provider: SimProvider,
) -> AsyncIterator[Everything]:
    service = await start_provider_service(
        veo=veo_fake, fal=fal_fake, runway=runway_fake, sim_url=sim_provider.public_url
    )
    async with provider_stub(service.port) as stub:
        yield Everything(stub, {"veo": veo_fake, "fal": fal_fake, "runway": runway_fake})


def expected(spec: catalog.ModeSpec, duration: int, aspect_ratio: str) -> tuple[int | None, set[str]]:
    """The README's rule: the default for 0, else round up to the next allowed length; the aspect ratio never
    changes. Returns the length sent, and the fields that make the spec unsupported."""
    wanted = duration or spec.default_duration
    rounded = next((d for d in spec.durations if d >= wanted), None)
    unsupported = {"spec.duration_seconds"} if rounded is None else set()
    if spec.framing != "image" and aspect_ratio not in spec.aspect_ratios:
        unsupported.add("spec.aspect_ratio")
    return rounded, unsupported


@pytest.mark.parametrize(
    ("provider", "model", "mode"), CASES, ids=[f"{p}:{m}:{mode}" for p, m, mode in CASES]
)
async def test_every_model_is_accepted_or_unsupported_never_refused(
    everything: Everything, provider: str, model: str, mode: catalog.Mode
) -> None:
    spec = catalog.load().get(provider, model).modes[mode]  # type: ignore[union-attr]
    fake = everything.fakes.get(provider)
    image = IMAGES.get(provider, "https://images.example.com/cat.png") if mode == "image_to_video" else ""
    accepted = 0
    for duration in DURATIONS:
        for ratio in ASPECT_RATIOS:
            request = pb.SubmitGenerationRequest(
                provider=provider,
                spec=common_pb2.VideoSpec(
                    prompt="a red kite over a grey sea",
                    image_uri=image,
                    duration_seconds=duration,
                    aspect_ratio=ratio,
                    model=model,
                ),
                idempotency_key=f"{model}-{duration}-{ratio}",
                output_uri_prefix="gs://out/incoming/job/",
            )
            rounded, unsupported = expected(spec, duration, ratio)
            case = f"{model} {mode} {duration}s {ratio}"
            try:
                response = await everything.stub.SubmitGeneration(request, metadata=MD, timeout=10)
            except grpc.aio.AioRpcError as error:
                refused = failure(error)
                info = refused.detail(error_details_pb2.ErrorInfo)
                assert info is not None, case
                assert (refused.code, info.reason) == (
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "UNSUPPORTED_SPEC",
                ), f"{case}: {refused.message}"
                assert set(info.metadata["fields"].split(",")) == unsupported, f"{case}: {refused.message}"
                continue
            assert not unsupported, f"{case} ran, but the rule says it cannot"
            accepted += 1
            effective = response.effective
            assert (effective.provider, effective.model, effective.mode) == (provider, model, mode)
            assert effective.duration_seconds == rounded, case
            assert effective.aspect_ratio == ("" if spec.framing == "image" else ratio), case
            sent = EffectiveSpec.from_proto(effective).parameters
            assert sent[spec.duration_field] == spec.wire_duration(rounded or 0), case
    assert accepted, f"{model} {mode} accepted nothing"
    if fake is not None:
        assert fake.refused == [], f"the provider refused what we sent: {fake.refused[:3]}"
        assert fake.submissions == accepted

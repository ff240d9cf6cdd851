"""ListModels answers from the catalog, with each provider's state and defaults; grpcurl reads it."""

from __future__ import annotations

import asyncio
import json

import grpc

from provider_service import catalog
from provider_service.fakes import FalFake
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, StartProviderService, provider_stub
from videojobs.settings import DEV_INTERNAL_TOKEN
from videojobs.v1 import provider_service_pb2 as pb
from videojobs_cli.demo import grpcurl_path


async def test_list_models_is_the_catalog_with_the_deployment_state(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    service = await start_provider_service(fal=fal_fake, fal_text_model="fal-ai/luma-dream-machine/ray-2")
    async with provider_stub(service.port) as stub:
        reply = await stub.ListModels(pb.ListModelsRequest(), metadata=MD, timeout=10)
        only_runway = await stub.ListModels(pb.ListModelsRequest(provider="runway"), metadata=MD, timeout=10)
        bad = await rpc_failure(stub.ListModels, pb.ListModelsRequest(provider="sora"))
    assert [(m.provider, m.id) for m in reply.models] == [(m.provider, m.id) for m in catalog.load().models]
    assert {m.provider for m in only_runway.models} == {"runway"}
    assert [p.name for p in only_runway.providers] == ["runway"]
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT

    providers = {p.name: p for p in reply.providers}
    assert set(providers) == {"veo", "fal", "runway", "sim"}
    assert (providers["fal"].configured, providers["runway"].configured) == (True, False)
    assert providers["fal"].default_text_model == "fal-ai/luma-dream-machine/ray-2"  # from settings
    assert providers["fal"].default_image_model == "fal-ai/kling-video/v2.1/master/image-to-video"
    assert (providers["runway"].default_text_model, providers["runway"].default_image_model) == (
        "gen4.5",
        "gen4_turbo",
    )
    assert providers["runway"].detail == "RUNWAYML_API_SECRET is not set"

    models = {(m.provider, m.id): m for m in reply.models}
    kling = models["fal", "fal-ai/kling-video/v2.1/master/text-to-video"]
    assert list(kling.modes) == ["text_to_video"]
    assert (list(kling.durations), kling.default_duration) == ([5, 10], 5)
    assert list(kling.aspect_ratios) == ["16:9", "9:16", "1:1"]
    assert (kling.max_prompt_chars, kling.HasField("audio"), kling.configured) == (2500, False, True)
    assert kling.limits[0].duration_wire == "string"
    assert kling.checked_against["types"] == "@fal-ai/client 1.10.1: KlingVideoV15ProTextToVideoInput"
    assert "docs.max_prompt_chars" in kling.checked_against

    gen45 = models["runway", "gen4.5"]
    assert list(gen45.modes) == ["text_to_video", "image_to_video"]
    assert list(gen45.aspect_ratios) == ["16:9", "9:16", "1:1"]  # the union over modes ...
    text, image = gen45.limits
    assert (list(text.aspect_ratios), list(text.wire_aspect_ratios)) == (
        ["16:9", "9:16"],
        ["1280:720", "720:1280"],
    )
    assert list(image.aspect_ratios) == ["16:9", "9:16", "1:1"]  # ... per mode here
    assert (gen45.max_prompt_chars, text.prompt_unit, gen45.configured) == (1000, "utf16", False)

    veo = models["veo", "veo-3.1-generate-001"]
    assert (veo.HasField("audio"), veo.audio, list(veo.durations)) == (True, True, [4, 6, 8])
    assert not models["veo", "veo-2.0-generate-001"].HasField("audio")
    assert list(models["sim", "sim"].modes) == ["text_to_video", "image_to_video"]


async def test_grpcurl_lists_the_models(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    service = await start_provider_service(fal=fal_fake)
    process = await asyncio.create_subprocess_exec(
        grpcurl_path(),
        "-plaintext",
        "-H",
        f"authorization: Bearer {DEV_INTERNAL_TOKEN}",
        "-d",
        '{"provider": "fal"}',
        f"127.0.0.1:{service.port}",
        "videojobs.v1.ProviderService/ListModels",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, output.decode()
    reply = json.loads(output)
    assert [m["id"] for m in reply["models"]] == [m.id for m in catalog.load().of("fal")]
    assert reply["providers"] == [
        {
            "name": "fal",
            "configured": True,
            "default_text_model": "fal-ai/kling-video/v2.1/master/text-to-video",
            "default_image_model": "fal-ai/kling-video/v2.1/master/image-to-video",
        }
    ]

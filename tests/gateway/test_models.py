"""GET /v1/models: the catalog as the real provider_service answers it, in the shape the dashboard reads."""

from __future__ import annotations

import httpx

from provider_service import catalog
from provider_service.fakes import FalFake
from tests.support.gateway import StartStack
from tests.support.providers import StartProviderService

# The documented shape (issue 10): the dashboard builds its form from these keys.
MODEL_KEYS = {
    "provider",
    "id",
    "modes",
    "durations",
    "default_duration",
    "aspect_ratios",
    "resolutions",
    "max_prompt_chars",
    "audio",
    "configured",
}
PROVIDER_KEYS = {"name", "configured", "default_text_model", "default_image_model"}


async def test_models_come_from_the_catalog(
    start_stack: StartStack, start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    providers = await start_provider_service(fal=fal_fake, sim_url="http://127.0.0.1:9")
    stack = await start_stack(provider_target=f"127.0.0.1:{providers.port}")
    async with await stack.client("alice") as client:
        response = await client.get("/v1/models")
        runway = await client.get("/v1/models", params={"provider": "runway"})
        unknown = await client.get("/v1/models", params={"provider": "sora"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(m["provider"], m["id"]) for m in body["models"]] == [
        (m.provider, m.id) for m in catalog.load().models
    ]
    for model in body["models"]:
        assert set(model) >= MODEL_KEYS
    kling = next(m for m in body["models"] if m["id"] == "fal-ai/kling-video/v2.1/master/text-to-video")
    assert {key: kling[key] for key in MODEL_KEYS} == {
        "provider": "fal",
        "id": "fal-ai/kling-video/v2.1/master/text-to-video",
        "modes": ["text_to_video"],
        "durations": [5, 10],
        "default_duration": 5,
        "aspect_ratios": ["16:9", "9:16", "1:1"],
        "resolutions": [],
        "max_prompt_chars": 2500,
        "audio": None,
        "configured": True,
    }
    veo = next(m for m in body["models"] if m["id"] == "veo-3.1-generate-001")
    assert (veo["audio"], veo["max_prompt_chars"], veo["configured"]) == (True, None, False)

    assert [p["name"] for p in body["providers"]] == ["veo", "fal", "runway", "sim"]
    for provider in body["providers"]:
        assert set(provider) >= PROVIDER_KEYS
    by_name = {p["name"]: p for p in body["providers"]}
    assert by_name["fal"] | {"detail": ""} == {
        "name": "fal",
        "configured": True,
        "default_text_model": "fal-ai/kling-video/v2.1/master/text-to-video",
        "default_image_model": "fal-ai/kling-video/v2.1/master/image-to-video",
        "detail": "",
    }
    assert (by_name["sim"]["configured"], by_name["sim"]["default_text_model"]) == (True, "sim")
    assert by_name["veo"]["configured"] is False
    assert by_name["veo"]["detail"] == "not configured on this service"  # not which setting is missing
    assert "VIDEOJOBS_" not in response.text

    assert {m["provider"] for m in runway.json()["models"]} == {"runway"}
    assert unknown.status_code == 422  # not a provider name: refused by the route, no backend call


async def test_models_need_an_api_key(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/v1/models")).status_code == 401

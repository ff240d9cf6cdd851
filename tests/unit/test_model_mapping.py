"""The mapping rule (provider_service/catalog/mapping.py) on the shipped catalog: what each spec becomes."""

from __future__ import annotations

from typing import Any

import pytest

from provider_service import catalog
from provider_service.catalog import mapping
from videojobs import errors

KLING_TEXT = "fal-ai/kling-video/v2.1/master/text-to-video"
KLING_IMAGE = "fal-ai/kling-video/v2.1/master/image-to-video"
HAILUO_TEXT = "fal-ai/minimax/hailuo-02/standard/text-to-video"


def plan(
    provider: str,
    model: str,
    *,
    duration: int = 0,
    ratio: str = "16:9",
    prompt: str = "a kite",
    image: bool = False,
) -> mapping.Mapped:
    entry, spec = mapping.choose(catalog.load(), provider, model, has_image=image)
    return mapping.map_spec(
        provider, entry, spec, prompt=prompt, duration_seconds=duration, aspect_ratio=ratio
    )


def unsupported_fields(**kwargs: Any) -> set[str]:
    with pytest.raises(errors.FailedPrecondition) as raised:
        plan(**kwargs)
    assert raised.value.reason == "UNSUPPORTED_SPEC"
    return set(raised.value.metadata["fields"].split(","))


@pytest.mark.parametrize(
    ("provider", "model", "duration", "ratio", "sent"),
    [
        # fal declares string literals; 0 is the type's default; lengths round up, never down
        ("fal", KLING_TEXT, 0, "1:1", {"duration": "5", "aspect_ratio": "1:1"}),
        ("fal", KLING_TEXT, 4, "16:9", {"duration": "5", "aspect_ratio": "16:9"}),
        ("fal", KLING_TEXT, 6, "9:16", {"duration": "10", "aspect_ratio": "9:16"}),
        (
            "fal",
            "fal-ai/veo3.1",
            5,
            "16:9",
            {"duration": "6s", "aspect_ratio": "16:9", "generate_audio": True},
        ),
        ("fal", HAILUO_TEXT, 0, "16:9", {"duration": "6"}),  # no aspect field: its one shape is 16:9
        ("fal", "fal-ai/luma-dream-machine/ray-2", 6, "9:16", {"duration": "9s", "aspect_ratio": "9:16"}),
        # Runway: integers, pixel-size ratios, the model as a constant, a duration always sent
        ("runway", "gen4.5", 0, "16:9", {"model": "gen4.5", "duration": 5, "ratio": "1280:720"}),
        ("runway", "gen4.5", 3, "9:16", {"model": "gen4.5", "duration": 3, "ratio": "720:1280"}),
        (
            "runway",
            "veo3.1",
            5,
            "16:9",
            {"model": "veo3.1", "duration": 6, "ratio": "1280:720", "audio": True},
        ),
        (
            "runway",
            "veo3.1_fast",
            0,
            "9:16",
            {"model": "veo3.1_fast", "duration": 8, "ratio": "720:1280", "audio": True},
        ),
        # Veo on Vertex: one sample; Veo 2 takes 5-8 s and no audio switch
        (
            "veo",
            "veo-3.1-generate-001",
            5,
            "9:16",
            {"sampleCount": 1, "durationSeconds": 6, "aspectRatio": "9:16", "generateAudio": True},
        ),
        (
            "veo",
            "veo-3.1-fast-generate-001",
            0,
            "16:9",
            {"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9", "generateAudio": True},
        ),
        (
            "veo",
            "veo-2.0-generate-001",
            4,
            "16:9",
            {"sampleCount": 1, "durationSeconds": 5, "aspectRatio": "16:9"},
        ),
        (
            "veo",
            "veo-2.0-generate-001",
            7,
            "16:9",
            {"sampleCount": 1, "durationSeconds": 7, "aspectRatio": "16:9"},
        ),
        ("sim", "sim", 0, "1:1", {"duration_seconds": 4, "aspect_ratio": "1:1"}),
    ],
)
def test_what_a_spec_becomes(
    provider: str, model: str, duration: int, ratio: str, sent: dict[str, Any]
) -> None:
    mapped = plan(provider, model, duration=duration, ratio=ratio)
    assert mapped.parameters == sent
    assert mapped.effective.parameters == sent
    assert mapped.effective.aspect_ratio == ratio


@pytest.mark.parametrize(
    ("provider", "model", "duration", "ratio", "fields"),
    [
        ("fal", KLING_TEXT, 11, "16:9", {"spec.duration_seconds"}),
        ("fal", "fal-ai/veo3.1", 0, "1:1", {"spec.aspect_ratio"}),
        ("fal", HAILUO_TEXT, 0, "9:16", {"spec.aspect_ratio"}),
        ("runway", "gen4.5", 0, "1:1", {"spec.aspect_ratio"}),  # text-to-video: 1280:720 or 720:1280 only
        ("runway", "veo3.1", 10, "1:1", {"spec.duration_seconds", "spec.aspect_ratio"}),
        ("veo", "veo-3.1-generate-001", 30, "16:9", {"spec.duration_seconds"}),
        ("veo", "veo-2.0-generate-001", 0, "1:1", {"spec.aspect_ratio"}),
    ],
)
def test_what_cannot_be_honoured_names_every_field(
    provider: str, model: str, duration: int, ratio: str, fields: set[str]
) -> None:
    assert unsupported_fields(provider=provider, model=model, duration=duration, ratio=ratio) == fields


def test_image_models_that_frame_like_the_image_take_no_aspect_ratio() -> None:
    mapped = plan("fal", KLING_IMAGE, ratio="1:1", image=True)
    assert mapped.parameters == {"duration": "5"}
    assert mapped.effective.aspect_ratio == ""  # the image decides
    assert mapped.effective.mode == "image_to_video"


def test_runway_counts_the_prompt_in_utf16_code_units() -> None:
    assert plan("runway", "gen4.5", prompt="é" * 1000).effective.model == "gen4.5"  # 1000 units
    assert unsupported_fields(provider="runway", model="gen4.5", prompt="😀" * 501) == {"spec.prompt"}  # 1002


def test_a_prompt_is_needed_where_the_model_needs_one() -> None:
    # gen4.5 image-to-video types promptText as a required non-empty string; gen4_turbo's is optional.
    assert unsupported_fields(provider="runway", model="gen4.5", prompt="", image=True) == {"spec.prompt"}
    assert plan("runway", "gen4_turbo", prompt="", image=True).effective.model == "gen4_turbo"


def test_a_model_outside_the_catalog_or_without_the_mode_is_not_run() -> None:
    assert unsupported_fields(provider="fal", model="fal-ai/some-other-model") == {"spec.model"}
    assert unsupported_fields(provider="runway", model="gen4_turbo") == {"spec.image_uri"}  # images only
    assert unsupported_fields(provider="fal", model=KLING_TEXT, image=True) == {"spec.image_uri"}
    assert unsupported_fields(provider="fal", model="gen4.5") == {"spec.model"}  # another provider's model

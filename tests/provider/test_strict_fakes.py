"""The fakes refuse what the real APIs refuse, in the real APIs' error shapes, and the official SDKs read
those refusals. These are the requests our adapters used to send."""

from __future__ import annotations

from typing import Any

import google.oauth2.credentials
import httpx
import pytest
import runwayml
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from runwayml import RunwayML

from provider_service.fakes import FalFake, RunwayFake, VeoFake

KLING = "fal-ai/kling-video/v2.1/master/text-to-video"


def fal_submit(fake: FalFake, endpoint: str, body: Any) -> httpx.Response:
    return httpx.post(f"{fake.url}/{endpoint}", json=body, headers={"Authorization": f"Key {fake.key}"})


@pytest.mark.parametrize(
    ("endpoint", "body", "loc", "error_type"),
    [
        # an integer where the type declares "5" | "10": pydantic does not coerce it
        (KLING, {"prompt": "a kite", "duration": 5}, ["body", "duration"], "literal_error"),
        (
            "fal-ai/veo3.1",
            {"prompt": "a kite", "aspect_ratio": "1:1"},
            ["body", "aspect_ratio"],
            "literal_error",
        ),
        ("fal-ai/veo3.1", {"prompt": "a kite", "duration": "8"}, ["body", "duration"], "literal_error"),
        (
            "fal-ai/minimax/hailuo-02/standard/text-to-video",
            {"prompt": "a kite", "aspect_ratio": "16:9"},
            ["body", "aspect_ratio"],
            "extra_forbidden",
        ),
        (KLING, {"duration": "5"}, ["body", "prompt"], "missing"),
        (KLING, {"prompt": 7}, ["body", "prompt"], "string_type"),
        (KLING, {"prompt": "x" * 2501}, ["body", "prompt"], "string_too_long"),
    ],
)
def test_fal_refuses_with_422_and_detail(
    fal_fake: FalFake, endpoint: str, body: dict[str, Any], loc: list[str], error_type: str
) -> None:
    response = fal_submit(fal_fake, endpoint, body)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert (detail["loc"], detail["type"]) == (loc, error_type)
    assert detail["msg"]
    assert fal_fake.submissions == 0


def test_fal_literal_errors_say_what_is_expected(fal_fake: FalFake) -> None:
    (detail,) = fal_submit(fal_fake, KLING, {"prompt": "a kite", "duration": 5}).json()["detail"]
    assert detail["msg"] == "Input should be '5' or '10'"
    assert detail["input"] == 5


def test_fal_accepts_the_declared_forms(fal_fake: FalFake) -> None:
    body = {"prompt": "a kite", "duration": "10", "aspect_ratio": "9:16", "negative_prompt": "blur"}
    assert fal_submit(fal_fake, KLING, body).status_code == 200
    assert fal_submit(fal_fake, "fal-ai/veo3.1", {"prompt": "a kite", "duration": "4s"}).status_code == 200
    assert fal_submit(fal_fake, "fal-ai/not-a-model", {"prompt": "x"}).status_code == 404


def runway_client(fake: RunwayFake) -> RunwayML:
    return RunwayML(api_key=fake.secret, base_url=fake.url, max_retries=0)


@pytest.mark.parametrize(
    ("endpoint", "params", "path"),
    [
        ("text_to_video", {"model": "gen4.5", "prompt_text": "waves", "ratio": "1280:720"}, ["duration"]),
        (
            "text_to_video",
            {"model": "gen4.5", "prompt_text": "waves", "ratio": "960:960", "duration": 5},
            ["ratio"],
        ),
        (
            "text_to_video",
            {"model": "veo3.1", "prompt_text": "waves", "ratio": "1280:720", "duration": 5},
            ["duration"],
        ),
        (
            "text_to_video",
            {"model": "gen4.5", "prompt_text": "😀" * 501, "ratio": "1280:720", "duration": 5},
            ["promptText"],
        ),
        (
            "text_to_video",
            {"model": "gen4.5", "prompt_text": "waves", "ratio": "1280:720", "duration": 11},
            ["duration"],
        ),
        (
            "image_to_video",
            {
                "model": "gen4_turbo",
                "prompt_image": "https://example.com/a.png",
                "ratio": "1280:720",
                "duration": 1,
            },
            ["duration"],
        ),
    ],
)
def test_runway_refuses_with_400_error_and_issues(
    runway_fake: RunwayFake, endpoint: str, params: dict[str, Any], path: list[str]
) -> None:
    client = runway_client(runway_fake)
    create = client.text_to_video.create if endpoint == "text_to_video" else client.image_to_video.create
    with pytest.raises(runwayml.BadRequestError) as raised:  # the SDK reads the refusal as Runway's own
        create(**params)
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["error"] == "Validation of body failed"
    assert [issue["path"] for issue in body["issues"]] == [path]
    assert runway_fake.submissions == 0


def test_runway_refuses_a_model_the_endpoint_does_not_serve(runway_fake: RunwayFake) -> None:
    response = httpx.post(
        f"{runway_fake.url}/v1/text_to_video",
        json={"model": "gen4_turbo", "promptText": "waves", "ratio": "1280:720"},
        headers={"Authorization": f"Bearer {runway_fake.secret}", "X-Runway-Version": runway_fake.version},
    )
    assert response.status_code == 400
    assert response.json()["issues"][0]["path"] == ["model"]


def vertex_client(fake: VeoFake) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="t"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=f"{fake.url}/"),
    )


@pytest.mark.parametrize(
    ("model", "config", "field"),
    [
        ("veo-3.1-generate-001", {"duration_seconds": 5}, "parameters.durationSeconds"),
        ("veo-3.1-generate-001", {"aspect_ratio": "1:1"}, "parameters.aspectRatio"),
        ("veo-2.0-generate-001", {"duration_seconds": 4}, "parameters.durationSeconds"),
        ("veo-2.0-generate-001", {"generate_audio": True}, "parameters.generateAudio"),
        ("veo-2.0-generate-001", {"resolution": "1080p"}, "parameters.resolution"),
    ],
)
def test_vertex_refuses_with_400_google_rpc_status(
    veo_fake: VeoFake, model: str, config: dict[str, Any], field: str
) -> None:
    client = vertex_client(veo_fake)
    with pytest.raises(genai_errors.ClientError) as raised:  # the SDK reads it as Google's own error
        client.models.generate_videos(
            model=model,
            source=types.GenerateVideosSource(prompt="a paper boat"),
            config=types.GenerateVideosConfig(output_gcs_uri="gs://b/incoming/job/", **config),
        )
    assert raised.value.code == 400
    assert raised.value.status == "INVALID_ARGUMENT"
    details = raised.value.details["error"]["details"]
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in details[0]["fieldViolations"]] == [field]
    assert veo_fake.submissions == 0


def test_vertex_refuses_an_image_with_both_a_uri_and_bytes(veo_fake: VeoFake) -> None:
    image = {"gcsUri": "gs://b/cat.png", "bytesBase64Encoded": "aGk=", "mimeType": "image/png"}
    response = httpx.post(
        f"{veo_fake.url}/v1/projects/p/locations/us-central1/publishers/google/models/"
        "veo-3.1-generate-001:predictLongRunning",
        json={"instances": [{"prompt": "x", "image": image}], "parameters": {"sampleCount": 1}},
        headers={"Authorization": "Bearer t"},
    )
    assert response.status_code == 400
    violations = response.json()["error"]["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == ["instances.0.image"]


def test_vertex_refuses_an_image_uri_that_is_not_cloud_storage(veo_fake: VeoFake) -> None:
    """An https URL where Vertex expects a gs:// object: Veo does not fetch it, so we must (as bytes)."""
    client = vertex_client(veo_fake)
    with pytest.raises(genai_errors.ClientError) as raised:
        client.models.generate_videos(
            model="veo-3.1-generate-001",
            source=types.GenerateVideosSource(
                prompt="the cat wakes up",
                image=types.Image(gcs_uri="https://images.example.com/cat.png", mime_type="image/png"),
            ),
            config=types.GenerateVideosConfig(output_gcs_uri="gs://b/incoming/job/"),
        )
    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
    violations = raised.value.details["error"]["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == ["instances.0.image.gcsUri"]
    assert veo_fake.submissions == 0

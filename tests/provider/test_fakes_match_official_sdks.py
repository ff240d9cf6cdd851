"""The fakes are honest: the providers' official SDKs, pointed at them, parse every scripted answer."""

from __future__ import annotations

import google.oauth2.credentials
import pytest
from google import genai
from google.cloud import storage
from google.genai import types
from runwayml import RunwayML

from provider_service.fakes import RunwayFake, VeoFake


@pytest.mark.parametrize("outcome", ["success", "failure", "content_violation"])
def test_runwayml_sdk_parses_the_runway_fake(runway_fake: RunwayFake, outcome: str) -> None:
    runway_fake.script.outcome = outcome  # type: ignore[assignment]
    client = RunwayML(api_key=runway_fake.secret, base_url=runway_fake.url, max_retries=0)
    created = client.image_to_video.create(
        model="gen4_turbo", prompt_image="https://example.com/cat.png", prompt_text="a cat", ratio="1280:720"
    )
    statuses = [client.tasks.retrieve(created.id).status for _ in range(3)]
    assert statuses == ["PENDING", "RUNNING", {"success": "SUCCEEDED"}.get(outcome, "FAILED")]
    final = client.tasks.retrieve(created.id)
    if outcome == "success":
        assert final.output  # type: ignore[union-attr]
    else:
        assert final.failure_code  # type: ignore[union-attr]
    text = client.text_to_video.create(model="gen4.5", prompt_text="waves", ratio="1280:720", duration=5)
    client.tasks.delete(text.id)
    assert client.tasks.retrieve(text.id).status == "CANCELLED"


@pytest.mark.parametrize("outcome", ["success", "failure", "content_violation"])
def test_google_genai_sdk_parses_the_vertex_veo_fake(
    veo_fake: VeoFake, gcs_bucket: storage.Bucket, outcome: str
) -> None:
    veo_fake.script.outcome = outcome  # type: ignore[assignment]
    client = genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="t"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=f"{veo_fake.url}/"),
    )
    operation = client.models.generate_videos(
        model="veo-3.1-generate-001",
        source=types.GenerateVideosSource(prompt="a paper boat"),
        config=types.GenerateVideosConfig(output_gcs_uri=f"gs://{gcs_bucket.name}/incoming/job/"),
    )
    assert operation.name
    assert not operation.done
    for _ in range(3):
        operation = client.operations.get(operation)
    assert operation.done
    if outcome == "success":
        assert operation.response is not None
        assert operation.response.generated_videos
        uri = operation.response.generated_videos[0].video.uri  # type: ignore[union-attr]
        assert uri is not None
        assert uri.startswith(f"gs://{gcs_bucket.name}/incoming/job/")
        assert uri.endswith("/sample_0.mp4")
    elif outcome == "content_violation":
        assert operation.response is not None
        assert operation.response.rai_media_filtered_count == 1
    else:
        assert operation.error
        assert operation.error["code"] == 3

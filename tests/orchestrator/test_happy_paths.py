"""Every provider, from PENDING to one stored video and thumbnail, through the real services."""

from __future__ import annotations

import httpx
import pytest

from provider_service.fakes import FakeProvider, VeoFake, tiny_video
from tests.support.pipeline import Pipeline, StartPipeline
from tests.support.videos import padded_mp4
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2

EXPECTED_EVENTS = [
    ("created", "PENDING"),
    ("submitting", "SUBMITTING"),
    ("state_changed", "PROCESSING"),
    ("state_changed", "FINALIZING"),
    ("state_changed", "COMPLETED"),
]


async def _completes(stack: Pipeline, provider: str) -> job_service_pb2.Job:
    job = await stack.run(providers=[provider], duration_seconds=4)
    assert job.state == job_service_pb2.COMPLETED, job.error
    assert job.provider == provider
    assert stack.names("videos/") == [f"videos/{key_segment('alice')}/{job.id}.mp4"]
    assert stack.names("thumbnails/") == [f"thumbnails/{key_segment('alice')}/{job.id}.jpg"]
    assert stack.names(f"incoming/{job.id}/") == []  # provider originals deleted
    assert stack.events(job.id) == EXPECTED_EVENTS
    assert job.video.width > 0
    assert job.video.duration_seconds > 0
    assert job.video_uri == f"gs://{stack.bucket.name}/videos/{key_segment('alice')}/{job.id}.mp4"
    async with httpx.AsyncClient() as client:  # the freshly signed URL downloads the real MP4
        response = await client.get(job.video_url)
    assert response.status_code == 200
    assert response.content[4:8] == b"ftyp"
    return job


@pytest.mark.parametrize("layout", ["subdir", "operation"])
async def test_a_veo_vertex_job_completes_from_either_output_layout(
    start_stack: StartPipeline, veo_fake: VeoFake, layout: str
) -> None:
    veo_fake.layout = layout  # type: ignore[assignment]
    stack = await start_stack(providers={"veo": veo_fake})
    await _completes(stack, "veo")
    assert veo_fake.submissions == 1


async def test_a_veo_gemini_api_job_completes_with_its_video_and_thumbnail(
    start_stack: StartPipeline, veo_fake: VeoFake
) -> None:
    stack = await start_stack(providers={"veo": veo_fake, "veo_mode": "gemini"})
    await _completes(stack, "veo")


@pytest.mark.parametrize("size", ["tiny", "over gRPC's default 4 MiB"])
async def test_veo_gemini_video_returned_inline_is_stored_without_resubmitting(
    start_stack: StartPipeline, veo_fake: VeoFake, size: str
) -> None:
    video = tiny_video() if size == "tiny" else padded_mp4(tiny_video(), 5 * 1024 * 1024)
    veo_fake.inline_video = video  # the operation carries encodedVideo, not a download URI
    stack = await start_stack(providers={"veo": veo_fake, "veo_mode": "gemini"})
    job = await _completes(stack, "veo")
    assert veo_fake.submissions == 1
    assert veo_fake.calls["download"] == 0
    assert job.video.size_bytes == len(video)
    assert stack.bucket.blob(f"videos/{key_segment('alice')}/{job.id}.mp4").download_as_bytes() == video


@pytest.mark.parametrize("provider", ["fal", "runway"])
async def test_a_fal_or_runway_job_completes_with_its_video_and_thumbnail(
    start_stack: StartPipeline, request: pytest.FixtureRequest, provider: str
) -> None:
    fake: FakeProvider = request.getfixturevalue(f"{provider}_fake")
    stack = await start_stack(providers={provider: fake})
    await _completes(stack, provider)
    assert fake.submissions == 1


async def test_a_sim_job_completes_with_its_video_and_thumbnail(start_sim_stack: StartPipeline) -> None:
    stack = await start_sim_stack()
    await _completes(stack, "sim")

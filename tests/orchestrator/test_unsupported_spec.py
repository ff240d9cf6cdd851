"""A spec the first provider cannot run goes to the next one, without any request to the first."""

from __future__ import annotations

from provider_service.fakes import FalFake, RunwayFake
from tests.support.pipeline import StartPipeline
from videojobs.effective import EffectiveSpec
from videojobs.v1 import job_service_pb2


async def test_unsupported_spec_moves_on_to_the_next_provider(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    # Runway's default text model, gen4.5, renders 1280:720 or 720:1280 only; fal's Kling takes 1:1.
    stack = await start_stack(providers={"fal": fal_fake, "runway": runway_fake})
    job = await stack.run(providers=["runway", "fal"], aspect_ratio="1:1", duration_seconds=6)
    assert job.state == job_service_pb2.COMPLETED, job.error
    assert job.provider == "fal"
    assert runway_fake.calls["submit"] == 0  # refused before any paid request
    (fal_job,) = fal_fake.jobs.values()
    assert (fal_job.input["duration"], fal_job.input["aspect_ratio"]) == ("10", "1:1")  # 6 s rounds up to 10
    (fallback,) = stack.sql("SELECT detail FROM job_events WHERE job_id = %s AND type = 'fallback'", job.id)
    assert (fallback[0]["from"], fallback[0]["to"]) == ("runway", "fal")
    assert "UNSUPPORTED_SPEC" in str(fallback[0])

    # The job says what fal was asked for, in GetJob and in the event of the submission.
    asked = {
        "provider": "fal",
        "model": "fal-ai/kling-video/v2.1/master/text-to-video",
        "mode": "text_to_video",
        "duration_seconds": 10,
        "aspect_ratio": "1:1",
        "audio": None,
        "parameters": {"duration": "10", "aspect_ratio": "1:1"},
    }
    assert (job.effective.provider, job.effective.model, job.effective.duration_seconds) == (
        "fal",
        asked["model"],
        10,
    )
    assert (job.effective.aspect_ratio, job.effective.HasField("audio")) == ("1:1", False)
    assert EffectiveSpec.from_proto(job.effective).parameters == asked["parameters"]
    started = stack.sql(
        "SELECT message, detail FROM job_events WHERE job_id = %s AND detail ? 'effective' ORDER BY id",
        job.id,
    )
    assert [detail["effective"] for _, detail in started] == [asked]
    assert started[0][0] == "fal job started: fal-ai/kling-video/v2.1/master/text-to-video, 10 s, 1:1"


async def test_a_spec_no_provider_can_run_fails_with_the_reason(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake, "runway": runway_fake})
    job = await stack.run(providers=["runway", "fal"], duration_seconds=12)  # longest: 10 s on both
    assert job.state == job_service_pb2.FAILED
    assert job.error.code == "UNSUPPORTED_SPEC"
    assert "spec.duration_seconds" in job.error.message
    assert (runway_fake.calls["submit"], fal_fake.calls["submit"]) == (0, 0)
    assert not job.HasField("effective")  # no provider was asked for anything

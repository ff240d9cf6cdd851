"""The failure rules of docs/failure-rules.md, through the real services: retries, fallback, content policy,
deadlines, cancellation, and webhooks that complete a job without polling."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from provider_service.fakes import FalFake, RunwayFake, VeoFake
from provider_service.fakes.base import Fault
from tests.support.grpc_client import metadata
from tests.support.pipeline import Pipeline, StartPipeline, fal_webhook_report
from tests.support.providers import HANG_TIMEOUT, fal_request_id
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2, provider_service_pb2

ALICE = metadata("alice")


async def _used_today(stack: Pipeline) -> int:
    quota = await stack.stub.GetQuota(job_service_pb2.GetQuotaRequest(), metadata=ALICE)
    return quota.used_today


async def test_first_provider_down_falls_back_to_the_second(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    fal_fake.fail_always("submit", Fault("503"))  # refused before processing: safe to retry, then give up
    stack = await start_stack(providers={"fal": fal_fake, "runway": runway_fake})
    job = await stack.run(providers=["fal", "runway"])
    assert (job.state, job.provider) == (job_service_pb2.COMPLETED, "runway"), job.error
    assert (fal_fake.submissions, runway_fake.submissions) == (0, 1)
    events = stack.events(job.id)
    assert ("fallback", "PENDING") in events
    assert events[-1] == ("state_changed", "COMPLETED")
    detail = stack.sql("SELECT detail FROM job_events WHERE job_id = %s AND type = 'fallback'", job.id)
    assert detail[0][0]["from"] == "fal"
    assert detail[0][0]["to"] == "runway"


async def test_all_providers_down_fails_and_gives_the_quota_unit_back(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    fal_fake.fail_always("submit", Fault("503"))
    runway_fake.fail_always("submit", Fault("429", retry_after=0.01))
    # A provider answering nothing but 429 counts as down once its 429s outlast max_throttled_seconds.
    stack = await start_stack(
        providers={"fal": fal_fake, "runway": runway_fake},
        throttle_wait_seconds=0.05,
        max_throttled_seconds=0.3,
    )
    created = await stack.create(providers=["fal", "runway"])
    assert await _used_today(stack) == 1
    job = await stack.wait(created.job.id)
    assert job.state == job_service_pb2.FAILED
    assert job.error.retryable
    assert job.error.message
    assert await _used_today(stack) == 0
    assert stack.names("videos/") == []


@pytest.mark.parametrize("provider", ["veo", "runway"])
async def test_content_violation_is_terminal_with_reasons_and_keeps_the_unit(
    start_stack: StartPipeline, veo_fake: VeoFake, runway_fake: RunwayFake, fal_fake: FalFake, provider: str
) -> None:
    fake = veo_fake if provider == "veo" else runway_fake
    fake.script.outcome = "content_violation"
    stack = await start_stack(providers={"veo": veo_fake, "runway": runway_fake, "fal": fal_fake})
    job = await stack.run(providers=[provider, "fal"])
    assert job.state == job_service_pb2.CONTENT_VIOLATION
    assert list(job.error.violation_reasons) or job.error.code.startswith("SAFETY")
    if provider == "runway":
        assert job.error.code.startswith("SAFETY")
    else:
        assert job.error.violation_reasons
    assert not job.error.retryable
    assert fal_fake.submissions == 0  # no fallback
    assert await _used_today(stack) == 1


async def test_a_provider_failure_falls_back(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    runway_fake.script.outcome = "failure"
    stack = await start_stack(providers={"fal": fal_fake, "runway": runway_fake})
    job = await stack.run(providers=["runway", "fal"])
    assert job.state == job_service_pb2.COMPLETED
    assert job.provider == "fal"


async def test_fault_storm_every_job_completes(start_stack: StartPipeline, fal_fake: FalFake) -> None:
    """30% of every provider call fails (submit, status, result, the video download): 5xx, 429, hangs."""
    fal_fake.script.hang_seconds = 0.8  # past the adapter's 0.5 s timeout
    fal_fake.fail_randomly(
        0.3, endpoints=("submit", "status", "result", "download"), kinds=("500", "429", "hang"), seed=11
    )
    # An ambiguous submit (500 or hang) is resubmitted; allow enough of them that 30% noise never exhausts it.
    stack = await start_stack(
        providers={"fal": fal_fake, **HANG_TIMEOUT}, step_max_attempts=10, max_unknown_submits=6
    )
    created = await asyncio.gather(*(stack.create(providers=["fal"]) for _ in range(8)))
    jobs = await asyncio.gather(*(stack.wait(c.job.id, within=90) for c in created))
    assert [job.state for job in jobs] == [job_service_pb2.COMPLETED] * 8, [job.error for job in jobs]
    assert fal_fake.submissions >= 8  # ambiguous submits may have made extra provider jobs...
    assert len(stack.names("videos/")) == 8  # ...but each job stored exactly one video
    assert len(stack.names("thumbnails/")) == 8


async def test_a_stuck_job_fails_at_its_deadline_and_is_cancelled_at_the_provider(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 10_000
    stack = await start_stack(providers={"fal": fal_fake}, job_deadline_seconds=1.0)
    job = await stack.run(providers=["fal"])
    assert job.state == job_service_pb2.FAILED
    assert job.error.code == "DEADLINE_EXCEEDED"
    assert fal_fake.cancels[fal_request_id(job)] == 1
    assert await _used_today(stack) == 0


async def test_cancel_while_processing_cancels_at_the_provider_and_stores_nothing(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 10_000
    stack = await start_stack(providers={"fal": fal_fake})
    job = await stack.run(providers=["fal"], until={job_service_pb2.PROCESSING})
    cancelled = await stack.stub.CancelJob(job_service_pb2.CancelJobRequest(id=job.id), metadata=ALICE)
    assert cancelled.state == job_service_pb2.CANCELLED
    assert fal_fake.cancels[fal_request_id(job)] == 1
    polls = fal_fake.polls[fal_request_id(job)]
    # The provider finishes anyway and says so by webhook: the news is ignored, nothing is stored.
    fal_fake.jobs[fal_request_id(job)].cancelled = False
    fal_fake.jobs[fal_request_id(job)].polls_to_finish = 0
    report = await fal_webhook_report(stack, fal_fake, job)
    assert report.status.state == provider_service_pb2.GenerationStatus.SUCCEEDED
    await stack.stub.ReportProviderEvent(report, metadata=metadata())
    await asyncio.sleep(0.5)
    assert fal_fake.polls[fal_request_id(job)] == polls  # nobody works on it any more
    assert stack.names() == []
    assert (await stack.get(job.id)).state == job_service_pb2.CANCELLED
    assert await _used_today(stack) == 1  # the provider ran: the unit is spent


async def test_cancelled_job_can_be_retried_as_a_new_attempt(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 10_000
    stack = await start_stack(providers={"fal": fal_fake})
    created = await stack.create(providers=["fal"])
    await stack.wait(created.job.id, until={job_service_pb2.PROCESSING})
    await stack.stub.CancelJob(job_service_pb2.CancelJobRequest(id=created.job.id), metadata=ALICE)
    fal_fake.script.polls_to_finish = 1
    retried = await stack.stub.RetryJob(job_service_pb2.RetryJobRequest(id=created.job.id), metadata=ALICE)
    assert retried.attempt == 2
    assert retried.state == job_service_pb2.PENDING
    job = await stack.wait(created.job.id)
    assert job.state == job_service_pb2.COMPLETED
    assert job.attempt == 2
    assert fal_fake.submissions == 2
    assert await _used_today(stack) == 2

    deleted = await stack.stub.DeleteJob(job_service_pb2.DeleteJobRequest(id=job.id), metadata=ALICE)
    assert sorted(deleted.deleted_uris) == sorted([job.video_uri, job.thumbnail_uri])
    assert stack.names() == []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.get(job.id)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_webhook_completes_the_job_without_polling(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 0
    stack = await start_stack(providers={"fal": fal_fake}, poll_initial_seconds=600, poll_max_seconds=600)
    job = await stack.run(providers=["fal"], until={job_service_pb2.PROCESSING})
    report = await fal_webhook_report(stack, fal_fake, job)
    started = time.monotonic()
    await stack.stub.ReportProviderEvent(report, metadata=metadata())
    await stack.stub.ReportProviderEvent(report, metadata=metadata())  # a replay is harmless
    done = await stack.wait(job.id, within=5)
    assert time.monotonic() - started < 1.0
    assert done.state == job_service_pb2.COMPLETED
    assert fal_fake.polls[fal_request_id(job)] == 0
    assert [kind for kind, _ in stack.events(job.id)].count("provider_event") == 1

    unknown = job_service_pb2.ReportProviderEventRequest(
        provider="fal", provider_job_id="no-such-job", status=report.status
    )
    await stack.stub.ReportProviderEvent(unknown, metadata=metadata())  # ignored, not an error


# "malformed": 200, but JSON instead of a video; "still_image": a JPEG labelled video/mp4.
@pytest.mark.parametrize("download", ["malformed", "still_image"])
async def test_an_output_that_is_not_a_video_falls_back_to_the_next_provider(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake, download: str
) -> None:
    fal_fake.fail_always("download", Fault(download))
    stack = await start_stack(providers={"fal": fal_fake, "runway": runway_fake})
    job = await stack.run(providers=["fal", "runway"])
    assert job.state == job_service_pb2.COMPLETED
    assert job.provider == "runway"
    fallback = stack.sql("SELECT detail FROM job_events WHERE job_id = %s AND type = 'fallback'", job.id)
    assert fallback[0][0]["error_code"] == "OUTPUT_NOT_A_VIDEO"
    assert stack.names() == sorted(
        [f"thumbnails/{key_segment('alice')}/{job.id}.jpg", f"videos/{key_segment('alice')}/{job.id}.mp4"]
    )
    assert job.video.codec == "h264"


async def test_an_output_that_is_not_a_video_with_no_fallback_fails_cleanly(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.fail_always("download", Fault("malformed"))
    stack = await start_stack(providers={"fal": fal_fake})
    job = await stack.run(providers=["fal"])
    assert job.state == job_service_pb2.FAILED
    assert job.error.code == "OUTPUT_NOT_A_VIDEO"
    assert job.error.retryable
    assert stack.names() == []

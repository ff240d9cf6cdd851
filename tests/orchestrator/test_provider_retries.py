"""A failure the provider calls retryable (Runway INTERNAL, fal runner_*, Veo code 13/14) is tried again on
the same provider, at most VIDEOJOBS_PROVIDER_RETRY_ATTEMPTS times, before the next provider."""

from __future__ import annotations

import pytest

from provider_service.fakes import FalFake, RunwayFake, VeoFake
from tests.support.grpc_client import metadata
from tests.support.pipeline import StartPipeline
from videojobs.v1 import job_service_pb2


async def test_a_retryable_failure_is_retried_on_the_same_provider(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake
) -> None:
    runway_fake.script.outcomes = ["failure"]  # the first task fails, the second succeeds
    runway_fake.script.failure_code = "INTERNAL"
    stack = await start_stack(providers={"runway": runway_fake, "fal": fal_fake})
    job = await stack.run(providers=["runway", "fal"])
    assert (job.state, job.provider) == (job_service_pb2.COMPLETED, "runway"), job.error
    assert (runway_fake.submissions, fal_fake.submissions) == (2, 0)
    events = [kind for kind, _ in stack.events(job.id)]
    assert events.count("provider_retry") == 1
    assert "fallback" not in events
    detail = stack.sql("SELECT detail FROM job_events WHERE job_id = %s AND type = 'provider_retry'", job.id)
    assert detail[0][0] == {"provider": "runway", "error_code": "INTERNAL", "retry": 1}


@pytest.mark.parametrize(("attempts", "runway_tasks"), [(0, 1), (1, 2), (2, 3)])
async def test_retries_are_bounded_then_the_next_provider_runs(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake, attempts: int, runway_tasks: int
) -> None:
    runway_fake.script.outcome = "failure"
    runway_fake.script.failure_code = "INTERNAL"
    stack = await start_stack(
        providers={"runway": runway_fake, "fal": fal_fake}, provider_retry_attempts=attempts
    )
    job = await stack.run(providers=["runway", "fal"])
    assert (job.state, job.provider) == (job_service_pb2.COMPLETED, "fal"), job.error
    assert (runway_fake.submissions, fal_fake.submissions) == (runway_tasks, 1)


@pytest.mark.parametrize(("provider", "code"), [("fal", "runner_disconnected"), ("veo", "14"), ("veo", "13")])
async def test_fal_and_veo_retryable_failures_are_retried_too(
    start_stack: StartPipeline, fal_fake: FalFake, veo_fake: VeoFake, provider: str, code: str
) -> None:
    fake = fal_fake if provider == "fal" else veo_fake
    fake.script.outcomes = ["failure"]
    fake.script.failure_code = code
    stack = await start_stack(providers={"fal": fal_fake, "veo": veo_fake})
    job = await stack.run(providers=[provider])
    assert job.state == job_service_pb2.COMPLETED, job.error
    assert fake.submissions == 2


async def test_a_run_on_the_same_provider_is_submitted_under_a_new_idempotency_key(
    start_sim_stack: StartPipeline,
) -> None:
    # The sim deduplicates on the key, as a provider honouring idempotency keys does: resubmitting under the
    # first run's key would hand back the failed generation instead of starting a new one.
    stack = await start_sim_stack()
    job = await stack.run(providers=["sim"], prompt="a lighthouse at dusk [sim:fail]")
    assert (job.state, job.error.retryable) == (job_service_pb2.FAILED, True), job.error
    started = stack.sql(
        "SELECT detail->>'provider_job_id' FROM job_events "
        "WHERE job_id = %s AND type = 'state_changed' AND state = 'PROCESSING' ORDER BY id",
        job.id,
    )
    assert len(started) == 2  # the first run and its one retry
    assert started[0][0] != started[1][0]


async def test_a_failure_that_is_not_retryable_goes_straight_to_the_next_provider(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake
) -> None:
    runway_fake.script.outcome = "failure"
    runway_fake.script.failure_code = "ASSET.INVALID"
    stack = await start_stack(providers={"runway": runway_fake, "fal": fal_fake})
    job = await stack.run(providers=["runway", "fal"])
    assert job.state == job_service_pb2.COMPLETED
    assert job.provider == "fal"
    assert runway_fake.submissions == 1


async def test_a_retried_job_starts_with_no_provider_retries(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.outcome = "failure"
    runway_fake.script.failure_code = "INTERNAL"
    stack = await start_stack(providers={"runway": runway_fake})
    failed = await stack.run(providers=["runway"])
    assert (failed.state, failed.error.code, failed.error.retryable) == (
        job_service_pb2.FAILED,
        "INTERNAL",
        True,
    )
    assert runway_fake.submissions == 2
    await stack.stub.RetryJob(job_service_pb2.RetryJobRequest(id=failed.id), metadata=metadata("alice"))
    again = await stack.wait(failed.id)
    assert (again.state, again.attempt) == (job_service_pb2.FAILED, 2)
    assert runway_fake.submissions == 4  # the new attempt had its own retry

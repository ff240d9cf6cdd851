"""Job metrics as Prometheus scrapes them: a scripted run through the real services (3 completed, 1 failed,
1 content violation, 1 fallback, 1 replayed create), read from job_service's /metrics port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from provider_service.fakes import FalFake, RunwayFake, VeoFake
from provider_service.fakes.base import Fault
from tests.support.grpc_client import metadata
from tests.support.metrics import Samples, scrape, value
from tests.support.pipeline import StartPipeline, fal_webhook_report
from tests.support.webhooks import FAST_WEBHOOKS, register, settled, webhook_receiver
from videojobs.v1 import job_service_pb2


async def scrape_when(port: int, done: Callable[[Samples], bool], within: float = 10.0) -> Samples:
    """The first scrape for which `done` holds (gauges are sampled every few tens of milliseconds)."""
    async with asyncio.timeout(within):
        while True:
            samples = await scrape(port)
            if done(samples):
                return samples
            await asyncio.sleep(0.05)


async def test_a_scripted_run_shows_exact_counts(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake, veo_fake: VeoFake
) -> None:
    fal_fake.fail_always("submit", Fault("503"))
    veo_fake.script.outcome = "content_violation"
    stack = await start_stack(
        providers={"fal": fal_fake, "runway": runway_fake, "veo": veo_fake},
        metrics_port=0,
        metrics_sample_seconds=0.05,
        step_max_attempts=2,
    )
    port = stack.services[0].metrics_port
    plans = [["runway"], ["runway"], ["fal", "runway"], ["fal"], ["veo"]]
    created = [await stack.create(key=f"k{i}", providers=plan) for i, plan in enumerate(plans)]
    replay = await stack.create(key="k0", providers=["runway"])
    assert not replay.created
    jobs = [await stack.wait(c.job.id) for c in created]
    assert [job.state for job in jobs] == [
        job_service_pb2.COMPLETED,
        job_service_pb2.COMPLETED,
        job_service_pb2.COMPLETED,
        job_service_pb2.FAILED,
        job_service_pb2.CONTENT_VIOLATION,
    ]
    await asyncio.sleep(0.2)  # one more sample of the (now empty) due queue
    m = await scrape(port)

    assert value(m, "videojobs_jobs_created_total", result="created") == 5
    assert value(m, "videojobs_jobs_created_total", result="replayed") == 1
    assert value(m, "videojobs_jobs_finished_total", state="COMPLETED", provider="runway") == 3
    assert value(m, "videojobs_jobs_finished_total", state="FAILED", provider="fal") == 1
    assert value(m, "videojobs_jobs_finished_total", state="CONTENT_VIOLATION", provider="veo") == 1
    assert value(m, "videojobs_fallbacks_total", from_provider="fal", to_provider="runway") == 1
    assert value(m, "videojobs_content_violations_total", provider="veo") == 1
    assert value(m, "videojobs_job_duration_seconds_count", state="COMPLETED") == 3
    assert value(m, "videojobs_job_duration_seconds_count", state="FAILED") == 1
    assert value(m, "videojobs_job_duration_seconds_count", state="CONTENT_VIOLATION") == 1
    assert value(m, "videojobs_job_duration_seconds_sum", state="COMPLETED") > 0
    assert value(m, "videojobs_leases_lost_total") == 0
    assert value(m, "videojobs_due_jobs") == 0
    assert value(m, "videojobs_oldest_due_seconds") == 0

    # Time per state: one observation each time a job left a state. Each fal submission leaves PENDING and
    # SUBMITTING once (a refused submission goes back to PENDING to be retried): 2 per fal job, 1 per run
    # on runway or veo, so PENDING and SUBMITTING 2 + 3 + 1 + 1 + 1 = 8; PROCESSING 4 (3 runway + veo).
    expected = {"PENDING": 8, "SUBMITTING": 8, "PROCESSING": 4, "FINALIZING": 3}
    for state, times in expected.items():
        assert value(m, "videojobs_job_state_seconds_count", state=state) == times, state

    # Completion lag: all three runway jobs were seen done by a poll, which wrote FINALIZING, so their lag is
    # exactly their time in FINALIZING.
    assert value(m, "videojobs_completion_lag_seconds_count", provider="runway") == 3
    lag = value(m, "videojobs_completion_lag_seconds_sum", provider="runway")
    assert lag == pytest.approx(value(m, "videojobs_job_state_seconds_sum", state="FINALIZING"))
    assert 0 < lag < value(m, "videojobs_job_duration_seconds_sum", state="COMPLETED")

    # Provider calls: three submissions to runway, and fal's refusals counted by code.
    assert value(m, "videojobs_provider_call_seconds_count", provider="runway", call="submit") == 3
    fal_submits = value(m, "videojobs_provider_call_seconds_count", provider="fal", call="submit")
    assert fal_submits == 2 * 2  # two jobs, step_max_attempts=2 each
    assert (
        value(m, "videojobs_provider_call_errors_total", provider="fal", call="submit", code="UNAVAILABLE")
        == 4
    )
    assert (
        value(m, "videojobs_provider_call_errors_total", provider="runway", call="submit", code="UNAVAILABLE")
        == 0
    )


async def test_webhook_deliveries_are_counted_by_outcome_and_the_outbox_is_sampled(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 1000  # the job stays PROCESSING: nothing further is announced
    stack = await start_stack(
        providers={"fal": fal_fake},
        metrics_port=0,
        metrics_sample_seconds=0.05,
        webhook_max_attempts=2,
        **FAST_WEBHOOKS,
    )
    port = stack.services[0].metrics_port
    with webhook_receiver() as receiver:
        await register(stack, receiver.url, ["video.state_changed"])
    # Now a URL every attempt refuses.
    stack.sql("UPDATE webhook_endpoints SET url = 'https://10.0.0.1/hooks'")
    job = (await stack.create(providers=["fal"])).job
    await stack.wait(job.id, until={job_service_pb2.PROCESSING})
    # PENDING, SUBMITTING and PROCESSING announced; each tried twice, then failed.
    await settled(stack, job.id, 3)
    m = await scrape_when(
        port, lambda m: value(m, "videojobs_webhook_deliveries_total", outcome="failed") == 3
    )
    m = await scrape_when(port, lambda m: value(m, "videojobs_webhook_queue") == 0)
    assert value(m, "videojobs_webhook_deliveries_total", outcome="retry") == 3
    assert value(m, "videojobs_webhook_deliveries_total", outcome="failed") == 3
    assert value(m, "videojobs_webhook_deliveries_total", outcome="delivered") == 0
    assert value(m, "videojobs_webhook_oldest_pending_seconds") == 0


async def test_the_webhook_outbox_gauges_show_depth_and_age_of_what_waits(start_stack: StartPipeline) -> None:
    stack = await start_stack(metrics_port=0, metrics_sample_seconds=0.05)
    with webhook_receiver() as receiver:
        await register(stack, receiver.url, ["video.state_changed"])
    # Rows from the trigger, due far in the future: waiting, never sent during this test.
    stack.sql(
        "INSERT INTO jobs (id, user_id, spec, state, quota_day, create_time) "
        "VALUES (gen_random_uuid(), 'alice', '{}', 'PENDING', current_date, now())"
    )
    stack.sql("INSERT INTO job_events (job_id, type, state) SELECT id, 'created', 'PENDING' FROM jobs")
    stack.sql(
        "UPDATE webhook_deliveries SET due_time = now() + interval '1 hour', "
        "create_time = now() - interval '90 seconds'"
    )
    port = stack.services[0].metrics_port
    m = await scrape_when(port, lambda m: value(m, "videojobs_webhook_queue") == 1)
    assert value(m, "videojobs_webhook_oldest_pending_seconds") >= 90


async def test_completion_lag_counts_from_the_webhooks_arrival(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 0
    stack = await start_stack(
        providers={"fal": fal_fake}, poll_initial_seconds=600, poll_max_seconds=600, metrics_port=0
    )
    port = stack.services[0].metrics_port
    job = await stack.run(providers=["fal"], until={job_service_pb2.PROCESSING})
    report = await fal_webhook_report(stack, fal_fake, job)
    started = time.monotonic()
    await stack.stub.ReportProviderEvent(report, metadata=metadata())
    done = await stack.wait(job.id, within=5)
    took = time.monotonic() - started
    assert done.state == job_service_pb2.COMPLETED
    m = await scrape(port)

    assert value(m, "videojobs_completion_lag_seconds_count", provider="fal") == 1
    lag = value(m, "videojobs_completion_lag_seconds_sum", provider="fal")
    # Longer than FINALIZING by the step that took the news from the webhook to FINALIZING; never longer
    # than from the report to COMPLETED as seen here.
    assert value(m, "videojobs_job_state_seconds_sum", state="FINALIZING") < lag < took

"""Job metrics as Prometheus scrapes them: a scripted run through the real services (3 completed, 1 failed,
1 content violation, 1 fallback, 1 replayed create), read from job_service's /metrics port."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from provider_service.fakes import FalFake, RunwayFake, VeoFake
from provider_service.fakes.base import Fault
from tests.support.pipeline import StartPipeline
from videojobs.v1 import job_service_pb2

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


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

"""Our own services out of reach are not the provider failing (docs/failure-rules.md, "Our own
infrastructure"). provider_service or storage_service is stopped for longer than a step's attempts last
(`step_max_attempts` tries), then started again on the same port: every job completes on its first
provider, no job falls back, and the provider sees no extra submission."""

from __future__ import annotations

import asyncio
from typing import Any

from provider_service.fakes import FalFake, RunwayFake
from provider_service.fakes.base import Fault
from tests.support.grpc_client import metadata
from tests.support.metrics import scrape, value
from tests.support.pipeline import Pipeline, StartPipeline
from tests.support.providers import provider_settings
from tests.support.services import provider_service_running, storage_service_running
from tests.support.storage import storage_settings
from videojobs.contract import JobState
from videojobs.v1 import job_service_pb2
from videojobs_cli.gcs_emulator import GcsEmulator

JOBS = 4
STEP_MAX_ATTEMPTS = 3  # the provider's attempts per step; the outages below outlast them
PROVIDERS = ["fal", "runway"]  # a fallback would show up as a runway submission


def finish_at_the_provider(fake: FalFake) -> None:
    """Every job the fake holds reports success at its next poll."""
    with fake.lock:
        for job in fake.jobs.values():
            job.polls_to_finish = 0


async def jobs_processing_at_fal(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake, **settings: Any
) -> tuple[Pipeline, list[str]]:
    """A pipeline (job_service `settings`) with runway behind fal, and JOBS jobs PROCESSING at fal until
    finish_at_the_provider."""
    fal_fake.script.polls_to_finish = 1_000_000
    stack = await start_stack(
        providers={"fal": fal_fake, "runway": runway_fake}, step_max_attempts=STEP_MAX_ATTEMPTS, **settings
    )
    ids = [(await stack.create(providers=PROVIDERS)).job.id for _ in range(JOBS)]
    for job_id in ids:
        await stack.wait(job_id, until={job_service_pb2.PROCESSING})
    return stack, ids


async def wait_past_the_attempts(stack: Pipeline, ids: list[str], peer: str, state: JobState) -> None:
    """Each job, in `state`, shows it waits for `peer` and has found it out of reach more times than a
    step has attempts."""
    async with asyncio.timeout(60):
        for job_id in ids:
            while True:
                job = await stack.get(job_id)
                [(waits,)] = stack.sql("SELECT peer_waits FROM jobs WHERE id = %s", job_id)
                if job.waiting_for == peer and waits > STEP_MAX_ATTEMPTS:
                    assert job.state == job_service_pb2.JobState.Value(state), job
                    break
                assert job.state not in (job_service_pb2.FAILED, job_service_pb2.COMPLETED), job
                await asyncio.sleep(0.05)


async def assert_completed_on_the_first_provider(stack: Pipeline, ids: list[str]) -> None:
    for job_id in ids:
        job = await stack.wait(job_id, within=60)
        assert job.state == job_service_pb2.COMPLETED, job.error
        assert job.provider == "fal"
        assert job.waiting_for == ""
        assert ("fallback", "PENDING") not in stack.events(job_id)
    [(fallbacks,)] = stack.sql("SELECT count(*) FROM job_events WHERE type = 'fallback'")
    assert fallbacks == 0


async def test_provider_service_down_while_jobs_are_processing(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    stack, ids = await jobs_processing_at_fal(start_stack, fal_fake, runway_fake, metrics_port=0)
    port = stack.provider.port
    await stack.provider.stop(0)
    finish_at_the_provider(fal_fake)  # the videos are ready while we cannot ask
    await wait_past_the_attempts(stack, ids, "provider_service", JobState.PROCESSING)
    [(waiting,)] = stack.sql("SELECT count(*) FROM job_events WHERE type = 'waiting'")
    assert waiting == JOBS  # watchers hear it once per job, not at every try
    settings = provider_settings(fal=fal_fake, runway=runway_fake, provider_port=port)
    async with provider_service_running(settings):
        await assert_completed_on_the_first_provider(stack, ids)
    assert fal_fake.submissions == JOBS
    assert runway_fake.submissions == 0
    assert len(stack.names("videos/")) == JOBS
    # Our outage is counted as ours, never as fal failing (which pages whoever watches the providers).
    samples = await scrape(stack.services[0].metrics_port)
    assert value(samples, "videojobs_peer_unavailable_total", peer="provider_service", call="status") >= JOBS
    provider_errors = [
        key for key, n in samples.items() if key[0] == "videojobs_provider_call_errors_total" and n
    ]
    assert provider_errors == []


async def test_storage_service_down_while_jobs_are_finalizing(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake, gcs_emulator: GcsEmulator
) -> None:
    stack, ids = await jobs_processing_at_fal(start_stack, fal_fake, runway_fake)
    port = stack.storage.port
    await stack.storage.stop(0)
    finish_at_the_provider(fal_fake)  # the jobs move on to FINALIZING, where storage is needed
    await wait_past_the_attempts(stack, ids, "storage_service", JobState.FINALIZING)
    settings = storage_settings(
        gcs_emulator.url, stack.bucket.name, fetch_allow_local=True, storage_port=port
    )
    async with storage_service_running(settings):
        await assert_completed_on_the_first_provider(stack, ids)
        assert len(stack.names("videos/")) == JOBS
    assert fal_fake.submissions == JOBS
    assert runway_fake.submissions == 0


async def test_a_submit_cut_short_by_provider_service_is_an_unknown_outcome(
    start_stack: StartPipeline, fal_fake: FalFake, runway_fake: RunwayFake
) -> None:
    """provider_service dies while the provider holds the submission: the job stays SUBMITTING (the provider
    may have the job), waits for provider_service, then resubmits once with the same key."""
    fal_fake.script.hang_seconds = 30.0
    fal_fake.fail_next("submit", Fault("hang"))
    providers: dict[str, Any] = {"fal": fal_fake, "runway": runway_fake, "http_timeout_seconds": 30.0}
    stack = await start_stack(providers=providers, step_max_attempts=STEP_MAX_ATTEMPTS)
    job_id = (await stack.create(providers=PROVIDERS)).job.id
    async with asyncio.timeout(30):
        while fal_fake.calls["submit"] < 1:  # noqa: ASYNC110 - the fake provider's thread has no event
            await asyncio.sleep(0.02)
    port = stack.provider.port
    await stack.provider.stop(0)
    await wait_past_the_attempts(stack, [job_id], "provider_service", JobState.SUBMITTING)
    [(unknown,)] = stack.sql("SELECT unknown_submits FROM jobs WHERE id = %s", job_id)
    assert unknown == 1  # the cut-short submission; tries that could not connect sent nothing
    async with provider_service_running(provider_settings(**providers, provider_port=port)):
        await assert_completed_on_the_first_provider(stack, [job_id])
    assert fal_fake.calls["submit"] == 2
    assert runway_fake.submissions == 0


async def test_signed_links_are_reused_through_a_storage_outage(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    """Links are cached until shortly before they expire: a read while storage_service is down still has
    them; a job never signed before comes without links, flagged urls_unavailable."""
    stack = await start_stack(providers={"fal": fal_fake})
    first, second = [(await stack.create(providers=["fal"])).job.id for _ in range(2)]
    signed = await stack.wait(first)
    assert signed.state == job_service_pb2.COMPLETED
    assert signed.video_url
    assert not signed.urls_unavailable
    async with asyncio.timeout(30):  # read from the database: a GetJob would sign its links
        while stack.sql("SELECT state FROM jobs WHERE id = %s", second) != [("COMPLETED",)]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await stack.storage.stop(0)
    again = await stack.get(first)
    assert (again.video_url, again.thumbnail_url) == (signed.video_url, signed.thumbnail_url)
    assert again.urls_expire_time == signed.urls_expire_time
    assert not again.urls_unavailable
    unsigned = await stack.get(second)
    assert unsigned.state == job_service_pb2.COMPLETED
    assert unsigned.urls_unavailable
    assert unsigned.video_url == unsigned.thumbnail_url == ""
    listed = await stack.stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=metadata("alice"))
    flags = {job.id: (bool(job.video_url), job.urls_unavailable) for job in listed.jobs}
    assert flags == {first: (True, False), second: (False, True)}

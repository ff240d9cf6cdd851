"""Completion seen within a fraction of the usual poll interval without webhooks: the poll schedule learned
from recent generation times (poll_schedule.py) against a fake whose jobs take 5-7 s.

The policy is today's scaled down tenfold (first poll 0.2 s, at most 3 s apart), so "within 1 s" here is
"within 10 s" in production."""

from __future__ import annotations

import random
import statistics

from provider_service.fakes import RunwayFake
from tests.support.pipeline import StartPipeline, plain_polls
from videojobs.v1 import job_service_pb2

SCHEDULE = {"poll_initial_seconds": 0.2, "poll_max_seconds": 3.0, "poll_near_seconds": 0.25}


async def test_a_learned_schedule_sees_completion_sooner_with_no_more_polls(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.durations = (5.0, 7.0)
    runway_fake.script.rng = random.Random(16)
    stack = await start_stack(providers={"runway": runway_fake}, **SCHEDULE)
    # History: twenty earlier runway generations took 5-7 s.
    stack.sql(
        "INSERT INTO generation_times (provider, model, seconds) "
        "SELECT 'runway', '', 5 + 2 * random() FROM generate_series(1, 20)"
    )
    jobs = await stack.run_jobs(8, within=60, providers=["runway"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}

    fake_jobs = [runway_fake.jobs[job.provider_job_id] for job in jobs]
    lags = [stack.seen_finished(job.id) - fake.finish_time for job, fake in zip(jobs, fake_jobs, strict=True)]
    assert min(lags) >= 0
    assert max(lags) < 1.0, lags
    polls = [runway_fake.polls[job.provider_job_id] for job in jobs]
    today = [plain_polls(fake.seconds or 0, 0.2, 3.0) for fake in fake_jobs]
    assert sum(polls) <= sum(today), (polls, today)
    # Each job's polls are reported with its FINALIZING event, and its time joins the history.
    reported = stack.sql("SELECT (detail->>'polls')::int FROM job_events WHERE state = 'FINALIZING'")
    assert sorted(count for (count,) in reported) == sorted(polls)
    learned = stack.sql("SELECT seconds FROM generation_times ORDER BY id OFFSET 20")
    assert len(learned) == 8
    assert 5.0 <= statistics.median(seconds for (seconds,) in learned) <= 8.0


async def test_without_history_the_usual_schedule_applies(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.durations = (4.0, 4.0)
    stack = await start_stack(providers={"runway": runway_fake}, **SCHEDULE)
    created = await stack.create(providers=["runway"])
    job = await stack.wait(created.job.id, within=30)
    assert job.state == job_service_pb2.COMPLETED
    # Polls 0.2, 0.5, 0.95, 1.63, 2.64 and 4.16 s after the submission: the sixth sees it done.
    assert runway_fake.polls[job.provider_job_id] == plain_polls(4.0, 0.2, 3.0) == 6

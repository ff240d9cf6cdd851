"""Provider limits across replicas (VIDEOJOBS_LIMITS), the shared back-off after a 429, and fair share.

A job held back by a limit stays PENDING (with a reason GetJob shows): it spends no step attempt and never
falls back. The fakes count what they see: jobs running at once, submissions and when, 429s answered.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from provider_service.fakes import FalFake, RunwayFake
from tests.support.grpc_client import metadata
from tests.support.metrics import scrape, value
from tests.support.pipeline import Pipeline, StartPipeline
from tests.support.waiting import eventually
from videojobs.v1 import job_service_pb2

COMPLETED = job_service_pb2.COMPLETED


async def _create_many(stack: Pipeline, count: int, user: str = "alice", **spec: Any) -> list[str]:
    replies = await asyncio.gather(*(stack.create(user=user, **spec) for _ in range(count)))
    return [reply.job.id for reply in replies]


def _events_of_type(stack: Pipeline, kind: str) -> int:
    return int(stack.sql("SELECT count(*) FROM job_events WHERE type = %s", kind)[0][0])


async def test_a_burst_never_has_more_in_flight_than_the_cap_across_three_replicas(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake
) -> None:
    runway_fake.script.polls_to_finish = 0  # done at the first poll: a slot turns over in a few ticks
    stack = await start_stack(
        providers={"runway": runway_fake, "fal": fal_fake},
        replicas=3,
        limits={"runway": {"max_in_flight": 4}},
        max_active=1000,
    )
    ids = await _create_many(stack, 200, providers=["runway", "fal"])
    async with asyncio.timeout(150):
        jobs = [await stack.wait(job_id, within=150) for job_id in ids]
    assert [job.state for job in jobs] == [COMPLETED] * 200
    assert runway_fake.max_running == 4
    assert runway_fake.submissions == 200
    assert fal_fake.submissions == 0
    assert _events_of_type(stack, "fallback") == 0
    assert _events_of_type(stack, "throttled") == 0
    # Held-back jobs said so once each, and waiting cost them nothing.
    assert _events_of_type(stack, "queued") >= 150
    assert stack.sql("SELECT max(step_attempts), max(unknown_submits) FROM jobs") == [(0, 0)]


async def test_a_per_model_limit_caps_that_model_only(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.polls_to_finish = 2
    stack = await start_stack(
        providers={"runway": runway_fake}, limits={"runway/gen4.5": {"max_in_flight": 1}}
    )
    capped = await _create_many(stack, 4, providers=["runway"], model="gen4.5")
    free = await _create_many(stack, 4, providers=["runway"], model="veo3.1_fast")
    for job_id in capped + free:
        assert (await stack.wait(job_id, within=60)).state == COMPLETED
    models = [str(job.input.get("model")) for job in runway_fake.jobs.values()]
    assert sorted(models) == ["gen4.5"] * 4 + ["veo3.1_fast"] * 4
    waited = stack.sql("SELECT DISTINCT detail->>'provider' FROM job_events WHERE type = 'queued'")
    assert waited == [("runway",)]
    aleph_waits = stack.sql(
        "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id "
        "WHERE e.type = 'queued' AND j.spec->>'model' = 'veo3.1_fast'"
    )
    assert aleph_waits == [(0,)]


async def test_get_job_says_what_a_held_back_job_waits_for(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.polls_to_finish = 10_000  # the first job keeps its slot for the whole test
    stack = await start_stack(
        providers={"runway": runway_fake},
        limits={"runway": {"max_in_flight": 1}},
        gateway={},
        metrics_port=0,
        metrics_sample_seconds=0.05,
    )
    first, second, third = [(await stack.create(providers=["runway"])).job.id for _ in range(3)]
    await stack.wait(first, until={job_service_pb2.PROCESSING})
    async with asyncio.timeout(10):
        while True:  # the next claim marks it
            job = await stack.get(third)
            if job.queue_reason:
                break
            await asyncio.sleep(0.05)
    assert job.state == job_service_pb2.PENDING
    assert job.queue_reason == "waiting for a runway slot, 1 ahead"
    assert (await stack.get(second)).queue_reason == "waiting for a runway slot"
    assert (await stack.get(first)).queue_reason == ""
    async with await stack.client("alice") as http:
        body = (await http.get(f"/v1/videos/{third}")).json()
    assert (body["state"], body["queue_reason"]) == ("PENDING", "waiting for a runway slot, 1 ahead")
    assert runway_fake.submissions == 1
    messages = stack.sql("SELECT message FROM job_events WHERE job_id = %s AND type = 'queued'", third)
    assert messages == [("waiting for a runway slot",)]
    # Watchers (WatchJob, and SSE through the gateway) get the event too.
    request = job_service_pb2.WatchJobRequest(id=third, after_sequence=1)
    async with asyncio.timeout(10):
        async for event in stack.stub.WatchJob(request, metadata=metadata("alice")):
            if event.type == "queued":
                break
    assert (event.state, event.message) == (job_service_pb2.PENDING, "waiting for a runway slot")
    # The backlog as Prometheus sees it.
    await asyncio.sleep(0.2)  # a sample taken after the waits began
    samples = await scrape(stack.jobs.metrics_port)
    assert value(samples, "videojobs_waiting_jobs", provider="runway") == 2
    assert value(samples, "videojobs_in_flight_jobs", provider="runway") == 1
    assert value(samples, "videojobs_oldest_waiting_seconds", provider="runway") > 0
    assert value(samples, "videojobs_waiting_jobs", provider="fal") == 0


async def test_submits_per_minute_is_respected_across_replicas(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    runway_fake.script.polls_to_finish = 1
    # 30 a minute over a 2 s window: one submission in any 2 s.
    stack = await start_stack(
        providers={"runway": runway_fake},
        replicas=2,
        limits={"runway": {"submits_per_minute": 30}},
        limit_window_seconds=2.0,
    )
    ids = await _create_many(stack, 5, providers=["runway"])
    for job_id in ids:
        assert (await stack.wait(job_id, within=60)).state == COMPLETED
    times = runway_fake.submit_times
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 5
    # Counted from the claim (then from the answer), at least 2 s apart; each submission reaches the fake a
    # little later (up to a few hundred milliseconds on a loaded machine), which never adds up: the span of
    # five is at least 4 x 2 s.
    assert min(gaps) > 1.0, gaps
    assert times[-1] - times[0] > 7.5, gaps
    assert _events_of_type(stack, "queued") >= 3


@pytest.mark.parametrize("backlog", [30, 60])
async def test_a_429_teaches_every_replica_the_rate_and_costs_no_attempts(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake, backlog: int
) -> None:
    """The account takes 10 submissions a minute (scaled down: 10 in any 2 s) and refuses the rest with 429;
    our limits know nothing of that rate. The first 429s pause submissions for every replica and teach them
    the rate: a backlog of 60 (five windows beyond the first) costs the same handful of 429s as 30."""
    runway_fake.script.polls_to_finish = 0
    runway_fake.script.submit_rate = (10, 2.0)
    stack = await start_stack(
        providers={"runway": runway_fake, "fal": fal_fake},
        replicas=2,
        limits={"runway": {"max_in_flight": 4}},
        limit_window_seconds=2.0,  # the account's minute, scaled down as its rate is
        throttle_wait_seconds=0.2,
        step_max_attempts=2,
        metrics_port=0,
    )
    ids = await _create_many(stack, backlog, providers=["runway", "fal"])
    jobs = [await stack.wait(job_id, within=90) for job_id in ids]
    assert [job.state for job in jobs] == [COMPLETED] * backlog
    assert runway_fake.submissions == backlog
    assert fal_fake.submissions == 0
    assert _events_of_type(stack, "fallback") == 0
    assert stack.sql("SELECT max(step_attempts) FROM jobs") == [(0,)]
    # Before the rate was learned, some of the 4 submissions in flight at once met the full window (2 or 3
    # as measured); after it, at most one step up (after 4 quiet windows, 8 s) found the rate one too high,
    # and the next waits twice as long. Without the learned rate every window of the backlog cost up to 4.
    assert 1 <= runway_fake.throttled <= 5, runway_fake.throttled
    # (provider_service itself retries a 429 that asks for less than it waits within one call.)
    throttled_events = stack.sql("SELECT count(*) FROM job_events WHERE type = 'throttled'")[0][0]
    assert 1 <= throttled_events <= runway_fake.throttled
    counted = [await scrape(service.metrics_port) for service in stack.services]
    throttles = [value(s, "videojobs_provider_throttles_total", provider="runway") for s in counted]
    assert sum(throttles) == throttled_events
    # What the account accepted in the window of its 429s, as every replica sees it (per minute of the
    # scaled-down 2 s window: 10 in 2 s is 300 a minute).
    (learned,) = stack.sql("SELECT learned_rate FROM provider_backoff WHERE provider = 'runway'")[0]
    assert 1 <= learned <= 11, learned
    stats = await stack.stub.GetQueueStats(
        job_service_pb2.GetQueueStatsRequest(), metadata=metadata("ops", role="admin")
    )
    (runway,) = [queue for queue in stats.providers if queue.provider == "runway"]
    assert runway.learned_submits_per_minute == learned * 30


async def test_one_users_batch_does_not_delay_anothers_jobs(
    start_stack: StartPipeline, runway_fake: RunwayFake
) -> None:
    """Alice queues 100 jobs, then Bob queues 2: Bob's jobs take the next 2 slots that free."""
    runway_fake.script.polls_to_finish = 10_000  # a job keeps its slot until the test lets it finish
    stack = await start_stack(
        providers={"runway": runway_fake}, replicas=2, limits={"runway": {"max_in_flight": 4}}
    )
    batch = await _create_many(stack, 100, user="alice", providers=["runway"])
    await eventually(lambda: runway_fake.submissions == 4)
    bobs = await _create_many(stack, 2, user="bob", providers=["runway"])
    waiting = "SELECT count(*) FROM jobs WHERE user_id = 'bob' AND waiting_since IS NOT NULL"
    await eventually(lambda: stack.sql(waiting) == [(2,)])  # both held back behind Alice's
    held = list(runway_fake.jobs)
    _finish(runway_fake, held[0])  # one slot frees, then another
    await eventually(lambda: runway_fake.submissions == 5)
    _finish(runway_fake, held[1])
    await eventually(lambda: runway_fake.submissions == 6)
    submitted = "SELECT count(*) FROM jobs WHERE provider_job_id IS NOT NULL"
    await eventually(lambda: stack.sql(submitted) == [(6,)])  # the worker recorded what the fake has
    order = list(runway_fake.jobs)
    bob = [await stack.get(job_id, user="bob") for job_id in bobs]
    assert sorted(order[4:6]) == sorted(job.provider_job_id for job in bob)
    runway_fake.script.polls_to_finish = 1
    for job in order:
        _finish(runway_fake, job)
    for job_id in bobs:
        assert (await stack.wait(job_id, user="bob", within=60)).state == COMPLETED
    for job_id in batch:
        assert (await stack.wait(job_id, within=120)).state == COMPLETED
    assert runway_fake.max_running == 4


def _finish(fake: RunwayFake, job_id: str) -> None:
    """Let a held job finish at its next poll."""
    with fake.lock:
        fake.jobs[job_id].polls_to_finish = 0


async def test_fallback_on_saturation_is_opt_in_after_max_queue_seconds(
    start_stack: StartPipeline, runway_fake: RunwayFake, fal_fake: FalFake
) -> None:
    runway_fake.script.polls_to_finish = 10_000  # the first job keeps runway's only slot
    stack = await start_stack(
        providers={"runway": runway_fake, "fal": fal_fake},
        limits={"runway": {"max_in_flight": 1, "max_queue_seconds": 0.5}},
    )
    first = (await stack.create(providers=["runway", "fal"])).job.id
    await stack.wait(first, until={job_service_pb2.PROCESSING})
    later = await _create_many(stack, 2, providers=["runway", "fal"])
    for job_id in later:
        job = await stack.wait(job_id, within=30)
        assert (job.state, job.provider) == (COMPLETED, "fal")
    assert runway_fake.submissions == 1
    details = stack.sql("SELECT detail FROM job_events WHERE type = 'fallback' ORDER BY id")
    assert [detail["error_code"] for (detail,) in details] == ["PROVIDER_SATURATED"] * 2
    waited = stack.sql(
        "SELECT min(f.create_time - w.create_time) FROM job_events f "
        "JOIN job_events w ON w.job_id = f.job_id AND w.type = 'queued' WHERE f.type = 'fallback'"
    )
    assert waited[0][0].total_seconds() >= 0.5

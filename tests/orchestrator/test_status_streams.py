"""Completion seen within a second without webhooks: the worker follows fal's status stream for jobs in
flight (job_service/status_streams.py), bounded per replica, polling meanwhile only as a safety net, and
on the normal schedule again once a stream ends without a finish."""

from __future__ import annotations

import asyncio
import random
import statistics
import uuid
from typing import Any, cast

import pytest

from job_service.lease_queries import LeaseQueries, StreamNews
from job_service.peers import CallFailed, ProviderClient
from job_service.status_streams import StatusStreams, StreamOptions
from provider_service.fakes import FalFake
from provider_service.fakes.base import Fault, Script
from tests.support.pipeline import Pipeline, StartPipeline, plain_polls
from videojobs.v1 import job_service_pb2

# Today's production poll schedule (first poll after 2 s, then x1.5 up to 30 s), without history.
PRODUCTION_POLLS: dict[str, Any] = {
    "poll_initial_seconds": 2.0,
    "poll_max_seconds": 30.0,
    "poll_learning": False,
}


def _results(stack: Pipeline, result: str) -> float:
    metric = "videojobs_status_stream_results"
    return sum(
        service.metrics.registry.get_sample_value(f"{metric}_total", {"provider": "fal", "result": result})
        or 0.0
        for service in stack.services
    )


def _lags(stack: Pipeline, fal_fake: FalFake, jobs: list[job_service_pb2.Job]) -> list[float]:
    return [
        stack.seen_finished(job.id) - fal_fake.jobs[job.provider_job_id.split(":")[1]].finish_time
        for job in jobs
    ]


async def test_completion_is_seen_within_a_second_via_the_status_stream(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script = Script(durations=(2.0, 20.0), rng=random.Random(16))
    stack = await start_stack(providers={"fal": fal_fake}, **PRODUCTION_POLLS)
    jobs = await stack.run_jobs(20, within=90, providers=["fal"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}

    lags = _lags(stack, fal_fake, jobs)
    assert min(lags) >= 0
    p95 = statistics.quantiles(lags, n=20)[-1]
    assert p95 < 1.0, sorted(lags)
    fake_jobs = [fal_fake.jobs[job.provider_job_id.split(":")[1]] for job in jobs]
    polls = [fal_fake.polls[fake.id] for fake in fake_jobs]
    plain = [plain_polls(fake.seconds or 0, 2.0, 30.0) for fake in fake_jobs]
    # The safety net's first poll (at 30 s) comes after every job's end: the one poll is the finish's.
    assert polls == [1] * 20, (polls, plain)
    assert sum(plain) > 3 * sum(polls)
    # Each job's stream saw it finish; a poll due at that very moment may have seen it first ("gone").
    assert _results(stack, "failed") == 0
    assert _results(stack, "finished") + _results(stack, "gone") == 20
    assert _results(stack, "finished") >= 18
    assert fal_fake.calls["status_stream"] == 20  # one stream per job: none broke, none was reopened
    assert stack.jobs.status_streams is not None
    assert stack.jobs.status_streams.open == 0
    gauge = stack.jobs.metrics.registry.get_sample_value("videojobs_status_streams_open", {"provider": "fal"})
    assert gauge == 0


async def test_a_stream_that_breaks_leaves_the_job_to_its_polls_which_follow_it_again(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (3.0, 4.0)
    fal_fake.cut_streams = 3  # each job's first stream breaks after its first event
    stack = await start_stack(
        providers={"fal": fal_fake}, poll_initial_seconds=1.0, poll_max_seconds=30.0, poll_learning=False
    )
    jobs = await stack.run_jobs(3, within=30, providers=["fal"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert fal_fake.cut_streams == 0
    assert _results(stack, "failed") == 3
    # The first poll (at 1 s) followed the stream again, which saw the end (3-4 s) before any poll did:
    # the schedule alone (polls at 1, 2.5 and 4.75 s) would have seen these jobs 0.75-1.75 s late.
    assert fal_fake.calls["status_stream"] == 6
    assert _results(stack, "finished") == 3
    assert max(_lags(stack, fal_fake, jobs)) < 1.0
    # The broken stream handed each job back to its normal first poll (1 s), not the safety net's (30 s).
    assert [fal_fake.polls[job.provider_job_id.split(":")[1]] for job in jobs] == [2, 2, 2]


async def test_while_the_stream_is_open_polls_thin_to_the_safety_net(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (6.0, 7.0)
    most = 3.0  # the schedule scaled down tenfold
    stack = await start_stack(
        providers={"fal": fal_fake}, poll_initial_seconds=0.2, poll_max_seconds=most, poll_learning=False
    )
    jobs = await stack.run_jobs(3, within=30, providers=["fal"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert max(_lags(stack, fal_fake, jobs)) < 1.0
    for job in jobs:
        fake = fal_fake.jobs[job.provider_job_id.split(":")[1]]
        seconds = fake.seconds or 0
        # One poll every `most` seconds while the stream is open (never fewer), and the finish's.
        safety_net = int(seconds // most)
        assert safety_net <= fal_fake.polls[fake.id] <= safety_net + 1
        assert plain_polls(seconds, 0.2, most) >= 7


async def test_with_every_stream_failing_polls_keep_the_normal_schedule(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (3.0, 3.5)
    fal_fake.fail_always("status_stream", Fault("drop"))
    stack = await start_stack(
        providers={"fal": fal_fake}, poll_initial_seconds=0.5, poll_max_seconds=30.0, poll_learning=False
    )
    jobs = await stack.run_jobs(3, within=20, providers=["fal"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert _results(stack, "finished") == 0
    # Polls at 0.5, 1.25, 2.4 and 4.1 s: each failed stream gave the job back its normal poll.
    for job in jobs:
        fake = fal_fake.jobs[job.provider_job_id.split(":")[1]]
        assert fal_fake.polls[fake.id] == plain_polls(fake.seconds or 0, 0.5, 30.0) == 4
    assert max(_lags(stack, fal_fake, jobs)) < 2.0


async def test_without_any_working_stream_jobs_complete_by_polling(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (0.5, 1.0)
    fal_fake.fail_always("status_stream", Fault("drop"))  # every stream's connection closes unanswered
    stack = await start_stack(providers={"fal": fal_fake}, poll_initial_seconds=0.2, poll_max_seconds=0.5)
    jobs = await stack.run_jobs(3, within=30, providers=["fal"])
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert _results(stack, "finished") == 0
    assert _results(stack, "failed") >= 3
    assert all(fal_fake.polls[job.provider_job_id.split(":")[1]] >= 2 for job in jobs)


async def test_each_replica_follows_at_most_its_bound_of_streams(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.durations = (2.0, 3.0)
    fal_fake.keepalive_seconds = 0.05  # the fake notices a stream its client closed within this
    stack = await start_stack(
        providers={"fal": fal_fake},
        replicas=2,
        status_streams=2,
        poll_initial_seconds=0.2,
        poll_max_seconds=0.5,
    )
    followers = [service.status_streams for service in stack.services]
    assert all(follower is not None for follower in followers)
    created = await asyncio.gather(*(stack.create(providers=["fal"]) for _ in range(8)))
    most = [0, 0]
    waiting = [asyncio.ensure_future(stack.wait(reply.job.id, within=60)) for reply in created]
    async with asyncio.timeout(60):
        while not all(task.done() for task in waiting):
            for index, follower in enumerate(followers):
                assert follower is not None
                most[index] = max(most[index], follower.open)
            await asyncio.sleep(0.01)
    jobs = [task.result() for task in waiting]
    assert {job.state for job in jobs} == {job_service_pb2.COMPLETED}
    assert max(most) == 2, most  # full, and never past the bound
    assert fal_fake.max_open_streams <= 4
    assert fal_fake.calls["status_stream"] >= 2


class _BreakingStream:
    """A provider whose status stream breaks after `seconds`; the job's due-time writes, recorded."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.due_in: list[float] = []

    async def await_finished(self, provider: str, provider_job_id: str, max_wait: float) -> bool:
        await asyncio.sleep(self.seconds)
        raise CallFailed("UNAVAILABLE", "", "stream cut", None)

    async def due_within(self, job_id: uuid.UUID, provider_job_id: str, due_in: float) -> StreamNews:
        self.due_in.append(due_in)
        return "due"


@pytest.mark.parametrize(("breaks_after", "due_in"), [(0.1, 0.4), (0.6, 0.0)])
async def test_a_stream_that_ends_without_a_finish_makes_the_job_due_at_its_normal_poll(
    breaks_after: float, due_in: float
) -> None:
    fake = _BreakingStream(breaks_after)
    woken = asyncio.Event()
    streams = StatusStreams(
        providers=cast(ProviderClient, fake),
        leases=cast(LeaseQueries, fake),
        wake=woken.set,
        options=StreamOptions(capacity=1, max_wait_seconds=60.0),
    )
    job, other = uuid.uuid4(), uuid.uuid4()
    assert streams.can_follow(job, "fal", "app:1")
    assert not streams.can_follow(job, "runway", "1")  # no stream to follow
    assert streams.follow(job, "fal", "app:1", poll_in=0.5)
    assert streams.can_follow(job, "fal", "app:1")  # followed already
    assert not streams.can_follow(other, "fal", "app:2")  # no room
    assert not streams.follow(other, "fal", "app:2", poll_in=0.5)
    async with asyncio.timeout(5):
        await woken.wait()
    # Broken before its normal poll: due then; after it: due now.
    assert fake.due_in == [pytest.approx(due_in, abs=0.05)]
    await asyncio.sleep(0.01)  # the stream's task ends and frees its room
    assert streams.open == 0
    assert streams.can_follow(other, "fal", "app:2")

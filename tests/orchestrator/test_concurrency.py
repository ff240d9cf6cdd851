"""Races: duplicate creates against several worker replicas, and many watchers of one job."""

from __future__ import annotations

import asyncio

from provider_service.fakes import FalFake
from tests.support.grpc_client import metadata
from tests.support.pipeline import StartPipeline
from videojobs.identity import key_segment
from videojobs.v1 import job_service_pb2

ALICE = metadata("alice")


async def test_duplicate_creates_and_three_replicas_make_one_submission_and_one_video(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, replicas=3)
    replies = await asyncio.gather(*(stack.create(key="double-click", providers=["fal"]) for _ in range(50)))
    assert len({reply.job.id for reply in replies}) == 1
    assert sum(reply.created for reply in replies) == 1
    job = await stack.wait(replies[0].job.id)
    assert job.state == job_service_pb2.COMPLETED
    await asyncio.sleep(0.3)  # let any straggling replica show itself
    assert fal_fake.submissions == 1
    assert stack.names("videos/") == [f"videos/{key_segment('alice')}/{job.id}.mp4"]
    assert [state for _, state in stack.events(job.id)].count("COMPLETED") == 1


async def test_a_hundred_watchers_see_every_transition_in_order_at_no_provider_cost(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    fal_fake.script.polls_to_finish = 3
    stack = await start_stack(providers={"fal": fal_fake}, poll_initial_seconds=0.2, poll_max_seconds=0.2)
    created = await stack.create(providers=["fal"])

    async def watch() -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        request = job_service_pb2.WatchJobRequest(id=created.job.id)
        async for event in stack.stub.WatchJob(request, metadata=ALICE):
            seen.append((event.sequence, event.state))
        return seen

    watchers = [asyncio.create_task(watch()) for _ in range(100)]
    results = await asyncio.wait_for(asyncio.gather(*watchers), timeout=60)
    job = await stack.get(created.job.id)
    assert job.state == job_service_pb2.COMPLETED
    recorded = [
        (sequence, job_service_pb2.JobState.Value(state))
        for sequence, state in stack.sql(
            "SELECT id, state FROM job_events WHERE job_id = %s ORDER BY id", created.job.id
        )
    ]
    for seen in results:
        first_sequence = seen[0][0]
        # The current state first, then every later event exactly once, in order, ending at COMPLETED.
        assert seen[1:] == [event for event in recorded if event[0] > first_sequence]
        assert seen[-1][1] == job_service_pb2.COMPLETED
    # Status polls depend on the poll schedule only: 3 polls to finish (+1 for the result), not x100.
    assert sum(fal_fake.polls.values()) <= 4
    assert fal_fake.calls["status"] <= 5


async def test_watch_resumes_after_a_sequence_and_ends_at_once_for_a_finished_job(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake})
    created = await stack.create(providers=["fal"])
    await stack.wait(created.job.id)
    everything = [
        event.type
        async for event in stack.stub.WatchJob(
            job_service_pb2.WatchJobRequest(id=created.job.id, after_sequence=1), metadata=ALICE
        )
    ]
    assert everything[-1] == "state_changed"
    assert "submitting" in everything
    current = [
        event
        async for event in stack.stub.WatchJob(
            job_service_pb2.WatchJobRequest(id=created.job.id), metadata=ALICE
        )
    ]
    assert len(current) == 1
    assert current[0].state == job_service_pb2.COMPLETED
    assert current[0].job.video_url  # signed for the watcher too

"""Runway cancel: DELETE cancels a pending, throttled or running task but deletes a finished one (and its
output), so the adapter looks at the task first and deletes only what is still unfinished."""

from __future__ import annotations

import httpx
import pytest

from provider_service.fakes import RunwayFake
from tests.support.providers import Generations, StartProviderService, provider_stub, submitted
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus


@pytest.mark.parametrize("outcome", ["success", "failure"])
async def test_a_finished_task_is_not_deleted(
    start_provider_service: StartProviderService, runway_fake: RunwayFake, outcome: str
) -> None:
    runway_fake.script.outcome = outcome  # type: ignore[assignment]
    runway_fake.script.polls_to_finish = 0
    async with submitted(start_provider_service, runway_fake) as (runway, task_id):
        finished = await runway.status(task_id)
        assert finished.state in (State.SUCCEEDED, State.FAILED)
        reply = await runway.cancel(task_id)
        assert reply.cancelled is False
        assert "already finished" in reply.detail
        again = await runway.status(task_id)
    assert runway_fake.calls["cancel"] == 0, "no DELETE reached Runway"
    assert again.state == finished.state
    if outcome == "success":  # the output is still there to be stored
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(finished.output_uris[0])).status_code == 200


async def test_a_cancelled_task_is_not_deleted_again(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    runway_fake.script.polls_to_finish = 100
    async with submitted(start_provider_service, runway_fake) as (runway, task_id):
        first = await runway.cancel(task_id)
        second = await runway.cancel(task_id)
    assert first.cancelled is True
    assert (second.cancelled, "already finished" in second.detail) == (False, True)
    assert runway_fake.cancels[task_id] == 1


@pytest.mark.parametrize("polls", [0, 2])
async def test_a_pending_or_running_task_is_cancelled(
    start_provider_service: StartProviderService, runway_fake: RunwayFake, polls: int
) -> None:
    runway_fake.script.polls_to_finish = 100
    async with submitted(start_provider_service, runway_fake) as (runway, task_id):
        for _ in range(polls):
            await runway.status(task_id)
        reply = await runway.cancel(task_id)
        after = await runway.status(task_id)
    assert reply.cancelled is True
    assert after.state == State.CANCELLED
    assert runway_fake.cancels[task_id] == 1


async def test_an_unknown_task_has_nothing_to_cancel(
    start_provider_service: StartProviderService, runway_fake: RunwayFake
) -> None:
    service = await start_provider_service(runway=runway_fake)
    async with provider_stub(service.port) as stub:
        reply = await Generations(stub, "runway").cancel("no-such-task")
    assert reply.cancelled is False
    assert runway_fake.calls["cancel"] == 0

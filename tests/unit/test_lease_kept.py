"""lease_kept (job_service/claim_loop.py): renewals while a step or delivery runs, stopped without ever
being cancelled mid-statement (a renewal cancelled inside its connection checkout strands the connection
outside the pool)."""

from __future__ import annotations

import asyncio

import pytest

from job_service.claim_loop import lease_kept
from videojobs.errors import Unavailable


class Renewals:
    """A renewal that takes `seconds` like a statement would, and records how each one ended."""

    def __init__(self, seconds: float = 0.0, answers: list[bool | Exception] | None = None) -> None:
        self.seconds = seconds
        self.answers = list(answers or [])
        self.started = 0
        self.finished = 0
        self.cancelled = 0
        self.running = asyncio.Event()

    async def __call__(self) -> bool:
        self.started += 1
        self.running.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_lease_is_renewed_while_the_body_runs() -> None:
    renew = Renewals()
    async with lease_kept(renew, 0.01):
        await asyncio.sleep(0.1)
    assert renew.started >= 5
    assert renew.cancelled == 0


async def test_a_renewal_in_flight_when_the_body_ends_finishes_and_is_awaited() -> None:
    renew = Renewals(seconds=0.2)
    async with lease_kept(renew, 0.01):
        await renew.running.wait()
    assert (renew.started, renew.finished, renew.cancelled) == (1, 1, 0)


async def test_a_cancelled_body_still_lets_its_renewal_finish() -> None:
    renew = Renewals(seconds=0.2)

    async def step() -> None:
        async with lease_kept(renew, 0.01):
            await asyncio.sleep(10)

    task = asyncio.create_task(step())
    await renew.running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (renew.finished, renew.cancelled) == (1, 0)


async def test_renewals_stop_when_the_claim_is_gone_and_go_on_after_a_failed_one() -> None:
    failures: list[str] = []
    renew = Renewals(answers=[Unavailable("database away"), True, False])
    async with lease_kept(renew, 0.01, failed=lambda: failures.append("failed")):
        await asyncio.sleep(0.2)
    assert renew.started == 3  # the third said the claim is gone: no fourth
    assert failures == ["failed"]

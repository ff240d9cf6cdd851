"""The learned poll schedule as plain values."""

from __future__ import annotations

import pytest

from job_service.poll_schedule import LearnedPolls, PollSchedule, Typical
from tests.support.policy import deployed_policy

POLICY = deployed_policy(poll_initial_seconds=2.0, poll_max_seconds=30.0)
SCHEDULE = PollSchedule(POLICY, near_seconds=2.0, min_samples=10)
MINUTE = Typical(p10=45.0, p50=60.0, p90=80.0, samples=50)


def test_without_enough_history_it_is_todays_schedule() -> None:
    few = Typical(45.0, 60.0, 80.0, samples=9)
    for polls in range(6):
        assert SCHEDULE.next_delay(None, 0.0, polls) == POLICY.poll_delay(polls)
        assert SCHEDULE.next_delay(few, 0.0, polls) == POLICY.poll_delay(polls)


def test_sparse_until_p10_then_every_few_seconds_until_p90_then_back_off() -> None:
    assert SCHEDULE.next_delay(MINUTE, 0.0, 0) == 30.0  # at most poll_max_seconds
    assert SCHEDULE.next_delay(MINUTE, 30.0, 1) == 15.0  # lands on p10
    assert SCHEDULE.next_delay(MINUTE, 44.5, 2) == 2.0  # never closer than the near interval
    assert SCHEDULE.next_delay(MINUTE, 60.0, 5) == 2.0
    assert SCHEDULE.next_delay(MINUTE, 90.0, 12) == 5.0  # half the time past p90
    assert SCHEDULE.next_delay(MINUTE, 500.0, 30) == 30.0


async def test_typical_times_are_loaded_once_per_refresh() -> None:
    loads: list[int] = []

    async def load() -> dict[tuple[str, str], Typical]:
        loads.append(1)
        return {("veo", ""): MINUTE}

    async def record(*_: object) -> None:
        pytest.fail("not recorded here")

    polls = LearnedPolls(SCHEDULE, load, record, refresh_seconds=3600)
    assert await polls.next_delay("veo", "", 50.0, 3) == 2.0
    assert await polls.next_delay("runway", "", 0.0, 0) == POLICY.poll_delay(0)
    assert len(loads) == 1

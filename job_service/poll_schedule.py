"""When to poll a provider job next, learned from how long that provider and model took lately.

Without webhooks (Veo, Runway) completion is seen only at a poll. Today's schedule (Policy.poll_delay) starts
fast and slows down to `poll_max_seconds`, so a minute-long video is noticed up to half a minute late. With
enough history for the provider and model (the p10/p50/p90 of recent generation times, kept in Postgres by
generation_time_queries.py):
  - before p10, poll sparsely: one jump towards p10, at most `poll_max_seconds` long;
  - from p10 to p90, every `poll_near_seconds`: most jobs finish here and are seen within that;
  - after p90, back off again, waiting half as long as the job is overdue (at most `poll_max_seconds`).
Without history (fewer than `min_samples`), today's schedule.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from job_service.policy import Policy


@dataclass(frozen=True)
class Typical:
    """Recent generation times (seconds from accepted to finished) of one provider and model."""

    p10: float
    p50: float
    p90: float
    samples: int


@dataclass(frozen=True)
class PollSchedule:
    policy: Policy
    near_seconds: float = 2.0
    min_samples: int = 10

    def next_delay(self, typical: Typical | None, elapsed: float, polls_done: int) -> float:
        """Seconds until the next poll of a job that has been at the provider for `elapsed` seconds."""
        if typical is None or typical.samples < self.min_samples:
            return self.policy.poll_delay(polls_done)
        ceiling = self.policy.poll_max_seconds
        if elapsed < typical.p10:
            return min(max(typical.p10 - elapsed, self.near_seconds), ceiling)
        if elapsed < typical.p90:
            return min(self.near_seconds, ceiling)
        return min(max((elapsed - typical.p90) / 2, self.near_seconds), ceiling)


Key = tuple[str, str]  # (provider, model)
Load = Callable[[], Awaitable[Mapping[Key, Typical]]]
Record = Callable[[str, str, datetime], Awaitable[None]]


class LearnedPolls:
    """The schedule with typical times reloaded from Postgres every `refresh_seconds` (per replica), and
    each success's generation time recorded there."""

    def __init__(
        self, schedule: PollSchedule, load: Load, record: Record, refresh_seconds: float = 60.0
    ) -> None:
        self._schedule = schedule
        self._load = load
        self.record = record
        self._refresh = refresh_seconds
        self._typical: Mapping[Key, Typical] = {}
        self._loaded_at: float | None = None

    async def next_delay(self, provider: str, model: str, elapsed: float, polls_done: int) -> float:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at >= self._refresh:
            self._loaded_at = now
            self._typical = await self._load()
        typical = self._typical.get((provider, model))
        return self._schedule.next_delay(typical, elapsed, polls_done)

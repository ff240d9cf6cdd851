"""The worker loop: claim due jobs, run one step each (bounded concurrency), keep their leases alive.

Any number of replicas run this against one database; they coordinate only through SKIP LOCKED claims
and leases. A replica that dies leaves leases that lapse, and another replica redoes those steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from job_service.claim_loop import ClaimLoop, LoopOptions, lease_kept
from job_service.event_hub import EventHub
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.orchestrator import Orchestrator


@dataclass(frozen=True)
class WorkerOptions:
    # From worker_concurrency, lease_seconds and idle_poll_seconds (their defaults are in settings.py).
    concurrency: int
    lease_seconds: float
    idle_poll_seconds: float
    # After an unexpected error in a step, look at the job again this much later.
    crash_retry_seconds: float = 5.0


class Worker:
    def __init__(
        self, leases: LeaseQueries, orchestrator: Orchestrator, hub: EventHub, options: WorkerOptions
    ) -> None:
        self._leases = leases
        self._orchestrator = orchestrator
        self._hub = hub
        self._options = options

    async def run(self, stopping: asyncio.Event) -> None:
        options = self._options
        loop: ClaimLoop[WorkItem] = ClaimLoop(
            LoopOptions("worker", options.concurrency, options.idle_poll_seconds, drain_seconds=5.0),
            claim=lambda free: self._leases.claim(free, options.lease_seconds),
            handle=self._step,
            task_name=lambda item: f"step-{item.job.id}",
            work_available=self._hub.work_available,
        )
        await loop.run(stopping)

    async def _step(self, item: WorkItem) -> None:
        log = item.log
        async with lease_kept(
            lambda: self._leases.renew(item, self._options.lease_seconds),
            self._options.lease_seconds / 3,
            failed=lambda: log.warning("lease renewal failed"),
        ):
            try:
                await self._orchestrator.advance(item)
            except Exception:
                log.exception("step crashed", state=item.job.state.value)
                with contextlib.suppress(Exception):
                    retry = Transition(item.job.state, due_in=self._options.crash_retry_seconds)
                    await self._leases.apply(item, retry)

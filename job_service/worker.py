"""The worker loop: claim due jobs, run one step each (bounded concurrency), keep their leases alive.

Any number of replicas run this against one database; they coordinate only through SKIP LOCKED claims
and leases. A replica that dies leaves leases that lapse, and another replica redoes those steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from job_service.event_hub import EventHub
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.orchestrator import Orchestrator
from videojobs.errors import Unavailable
from videojobs.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 16
    lease_seconds: float = 30.0
    idle_poll_seconds: float = 1.0
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
        self._running: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("worker started", concurrency=self._options.concurrency)
        try:
            while not stopping.is_set():
                free = self._options.concurrency - len(self._running)
                claimed: list[WorkItem] = []
                if free > 0:
                    self._hub.work_available.clear()
                    try:
                        claimed = await self._leases.claim(free, self._options.lease_seconds)
                    except Unavailable:
                        log.warning("cannot claim jobs: database unavailable")
                for item in claimed:
                    task = asyncio.create_task(self._step(item), name=f"step-{item.job.id}")
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if claimed and len(claimed) == free:
                    continue  # there may be more due work right away
                await self._wait_for_work(stopping, busy=free <= 0)
        finally:
            await self._drain()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()

    async def _wait_for_work(self, stopping: asyncio.Event, *, busy: bool) -> None:
        self._slot_freed.clear()
        waiters = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(self._slot_freed.wait())]
        if not busy:
            waiters.append(asyncio.ensure_future(self._hub.work_available.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self._options.idle_poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _step(self, item: WorkItem) -> None:
        renewing = asyncio.create_task(self._keep_lease(item))
        try:
            await self._orchestrator.advance(item)
        except Exception:
            log.exception("step crashed", job_id=str(item.job.id), state=item.job.state.value)
            with contextlib.suppress(Exception):
                retry = Transition(item.job.state, due_in=self._options.crash_retry_seconds)
                await self._leases.apply(item, retry)
        finally:
            renewing.cancel()
            # Its renewal may be mid-statement: let it give its connection back before the step ends.
            await asyncio.gather(renewing, return_exceptions=True)

    async def _keep_lease(self, item: WorkItem) -> None:
        """Renew the lease while a step runs (a slow relocation must not look like a dead worker)."""
        while True:
            await asyncio.sleep(self._options.lease_seconds / 3)
            try:
                if not await self._leases.renew(item, self._options.lease_seconds):
                    return  # the claim is gone (cancelled or taken over); the step's writes will fail
            except Unavailable:
                log.warning("lease renewal failed", job_id=str(item.job.id))

    async def _drain(self) -> None:
        """On shutdown, let running steps finish briefly; unfinished ones are redone after their lease."""
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=5)
            for task in pending:
                task.cancel()
            # Cancelled steps unwind (closing their database connections) before the engine is disposed.
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("worker stopped")

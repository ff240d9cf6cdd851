"""The loop the job worker and the webhook senders share: claim as many due items as there are free slots,
run each as a task, and when nothing more is due wait for a slot to free, new work to be announced, a poll
interval or the stop. Items are claimed with leases (SKIP LOCKED), so any number of replicas run it; on stop,
running items get a grace period, then are cancelled and their leases lapse for another replica to redo.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from videojobs.errors import Unavailable
from videojobs.logs import get_logger

log = get_logger(__name__)

Item = TypeVar("Item")


@dataclass(frozen=True)
class LoopOptions:
    name: str  # in logs: "worker", "webhook sender"
    concurrency: int
    poll_seconds: float
    drain_seconds: float


class ClaimLoop(Generic[Item]):
    def __init__(
        self,
        options: LoopOptions,
        claim: Callable[[int], Awaitable[list[Item]]],
        handle: Callable[[Item], Coroutine[Any, Any, None]],
        task_name: Callable[[Item], str],
        work_available: asyncio.Event | None = None,
    ) -> None:
        """`claim(n)` takes up to n due items; `handle(item)` runs one; `work_available`, when given, is set
        by whoever learns of new due work (cleared here just before each claim, so none is missed)."""
        self._options = options
        self._claim = claim
        self._handle = handle
        self._task_name = task_name
        self._work_available = work_available
        self._running: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        log.info(f"{self._options.name} started", concurrency=self._options.concurrency)
        try:
            while not stopping.is_set():
                free = self._options.concurrency - len(self._running)
                claimed: list[Item] = []
                if free > 0:
                    if self._work_available is not None:
                        self._work_available.clear()
                    try:
                        claimed = await self._claim(free)
                    except Unavailable:
                        log.warning(f"{self._options.name} cannot claim: database unavailable")
                for item in claimed:
                    task = asyncio.create_task(self._handle(item), name=self._task_name(item))
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if claimed and len(claimed) == free:
                    continue  # there may be more due work right away
                await self._wait(stopping, busy=free <= 0)
        finally:
            await self._drain()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()

    async def _wait(self, stopping: asyncio.Event, *, busy: bool) -> None:
        self._slot_freed.clear()
        waiters = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(self._slot_freed.wait())]
        if not busy and self._work_available is not None:
            waiters.append(asyncio.ensure_future(self._work_available.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self._options.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _drain(self) -> None:
        """Running items finish within the grace period or are cancelled, and unwind (closing their database
        connections) before the caller disposes of the engine."""
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self._options.drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info(f"{self._options.name} stopped")


@contextlib.asynccontextmanager
async def lease_kept(
    renew: Callable[[], Awaitable[bool]], every: float, *, failed: Callable[[], None] | None = None
) -> AsyncIterator[None]:
    """Renew a claim's lease every `every` seconds while the body runs (a slow step or delivery must not look
    like a dead replica), until the body ends or `renew` says the claim is gone.

    The renewals are stopped by an event and awaited, never cancelled: a renewal cancelled while it checks
    out its connection leaves that connection outside the pool (SQLAlchemy can only drop it when it is
    garbage collected), so one already running finishes its statement first."""
    done = asyncio.Event()

    async def keep() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every)
                return
            try:
                if not await renew():
                    return
            except Unavailable:  # the next renewal tries again
                if failed is not None:
                    failed()

    renewing = asyncio.create_task(keep(), name="lease-renewal")
    try:
        yield
    finally:
        done.set()
        # asyncio.wait, unlike gather, leaves the renewal running if this task is cancelled meanwhile.
        await asyncio.wait({renewing})

"""Waiting for a dependency at start-up: retry with bounded backoff instead of crashing.

A container whose database is not up yet should wait for it, not exit and be restarted in a tight loop by
its orchestrator (compose restarts at once; Kubernetes backs off up to 5 minutes, delaying recovery).
Past the budget the error is raised, so a dependency that never comes is still reported and fatal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_delay

from videojobs.backoff import full_jitter
from videojobs.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# Capped so a dependency that comes back is noticed within a few seconds.
INITIAL_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 5.0


async def wait_for(
    what: str,
    call: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...],
    within: float,
    initial: float = INITIAL_WAIT_SECONDS,
    maximum: float = MAX_WAIT_SECONDS,
) -> T:
    """Run the blocking `call` on a thread until it returns, retrying `retry_on` errors with full-jitter
    exponential backoff (ceiling `initial`, doubling up to `maximum`) for at most `within` seconds; then the
    last error is raised."""

    def report(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "waiting for a dependency",
            dependency=what,
            attempt=state.attempt_number,
            retry_in_seconds=round(delay, 2),
            error=str(error)[:300],
        )

    retrying = AsyncRetrying(
        stop=stop_after_delay(within),
        wait=lambda state: full_jitter(state.attempt_number, base=initial, cap=maximum),
        retry=retry_if_exception_type(retry_on),
        before_sleep=report,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await asyncio.to_thread(call)
    raise AssertionError("tenacity returns or raises")  # pragma: no cover

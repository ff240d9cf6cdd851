"""Waiting in tests for what offers no event to wait on (a bucket listing, a row, a counter), always with a
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(check: Callable[[], object], within: float = 10, every: float = 0.05) -> None:
    """Return once check() is true; TimeoutError when it is still false after `within` seconds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing to wait on but the condition itself
            await asyncio.sleep(every)

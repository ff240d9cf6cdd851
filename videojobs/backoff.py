"""How long to wait before trying again: one jitter formula and one Retry-After reader for every service."""

from __future__ import annotations

import email.utils
import random
import time
from datetime import UTC, datetime


def full_jitter(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter spreads retries of many clients that failed together best (AWS architecture blog,
    "Exponential Backoff And Jitter"); `attempt` counts from 1.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(0.0, ceiling)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After value (delta-seconds or an HTTP date) in seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - reference).total_seconds())


def shortened_jitter(attempt: int, *, base: float, cap: float, spread: float = 0.2) -> float:
    """Exponential backoff, min(cap, base * 2^(attempt-1)), shortened at random by up to `spread` of itself.

    For schedules that must last about as long as documented (webhook retries: about a day), where full
    jitter would halve the total on average; the spread still keeps many failures from retrying together.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(ceiling * (1.0 - random.uniform(0.0, spread)))


def schedule_ceilings(attempts: int, *, base: float, cap: float) -> list[float]:
    """The longest wait before each retry of `shortened_jitter`'s schedule (attempts - 1 waits)."""
    return [min(cap, base * 2 ** (n - 1)) for n in range(1, attempts)]

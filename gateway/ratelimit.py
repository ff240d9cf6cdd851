"""Token buckets by key: per user, so one client cannot starve the others; per client address, for failed
authentications and provider webhooks, so unauthenticated traffic cannot turn into backend calls at will.

Buckets live in the worker process (bounded, least recently used dropped first): with N uvicorn workers a
user gets up to N times the configured rate. Size the rate per worker, or put a shared limiter in front.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def acquire(self, key: str) -> float | None:
        """Take one token for `key`: None when allowed, else the seconds until a token is available."""
        if not self.enabled:
            return None
        bucket = self._refilled(key)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.per_second

    def wait(self, key: str) -> float | None:
        """What `acquire` would answer, without taking a token: for limits on what happens after the
        check (e.g. failed authentications, counted only once they have failed)."""
        if not self.enabled:
            return None
        bucket = self._refilled(key)
        return None if bucket.tokens >= 1 else (1 - bucket.tokens) / self.per_second

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > _MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    @staticmethod
    def retry_after_header(wait: float) -> int:
        return max(1, math.ceil(wait))

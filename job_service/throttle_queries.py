"""What the providers answer to our submissions, kept for every replica: an accepted submission counts in
the limits window from the provider's answer, a refused one (429) leaves it, and a 429 pauses the provider,
paces it for a window and teaches its rate (the submissions it accepted in the window).

limit_queries.py reads all of it when it claims waiting jobs; job_service/limits.py has the rules as plain
values.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.database import database_errors
from job_service.limits import FIRST_PROBE_WINDOWS, MAX_PROBE_WINDOWS

# An accepted submission counts from when the provider answered, not from its claim: that is after the
# provider counted it, so it leaves our window after it left the provider's (a claim's time is before, and
# the varying time to reach the provider would let a full window admit one more than the provider does).
ACCEPTED = text(
    """
    UPDATE provider_submits SET submit_time = clock_timestamp()
    WHERE id = (SELECT max(id) FROM provider_submits WHERE provider = :provider AND job_id = :job_id)
    """
)

# A submission the provider refused (429) leaves the window's count: the provider did not count it either.
_REFUSED = """
    DELETE FROM provider_submits WHERE id = (
        SELECT max(id) FROM provider_submits WHERE provider = :provider AND job_id = :job_id)
"""
REFUSED = text(_REFUSED)

# A 429: the refused submission leaves the window's count (the provider did not take it), and what the
# provider accepted in the window becomes its learned rate (the least of those seen, so the 429s of one burst
# settle on the count before it). A 429 within a window after a step up means the step was one too many: the
# next one waits twice as long.
THROTTLED = text(
    f"""
    WITH refused AS ({_REFUSED} RETURNING id),
    accepted AS (
        SELECT greatest(count(*), 1) AS n FROM provider_submits s
        WHERE s.provider = :provider AND s.submit_time > now() - make_interval(secs => :window)
            AND s.id NOT IN (SELECT id FROM refused)
    )
    INSERT INTO provider_backoff AS b (
        provider, not_before, throttles, spacing_seconds, last_throttle, learned_rate, rate_time,
        probe_windows
    )
    SELECT :provider, now() + make_interval(secs => :seconds), 1, :pace, now(), n, now(), :first_probe
    FROM accepted
    ON CONFLICT (provider) DO UPDATE
    SET not_before = greatest(b.not_before, excluded.not_before), throttles = b.throttles + 1,
        spacing_seconds = excluded.spacing_seconds, last_throttle = now(),
        learned_rate = least(b.learned_rate, excluded.learned_rate), rate_time = now(),
        probe_windows = CASE
            WHEN b.rate_time > b.last_throttle AND b.rate_time > now() - make_interval(secs => :window)
                THEN least(b.probe_windows * 2, :max_probe)
            ELSE b.probe_windows
        END
    """
)


class ThrottleQueries:
    def __init__(self, engine: AsyncEngine, window_seconds: float = 60.0) -> None:
        self._engine = engine
        self._window = window_seconds

    @database_errors
    async def throttled(self, provider: str, job_id: uuid.UUID, seconds: float, pace_seconds: float) -> None:
        """The provider answered 429 to `job_id`'s submission: no replica submits to it for `seconds`
        (extending a longer wait), then at most one submission per `pace_seconds` until a limits window has
        passed without a 429; and never more a window than it accepted in the window of this 429."""
        async with self._engine.begin() as conn:
            await conn.execute(
                THROTTLED,
                {
                    "provider": provider,
                    "job_id": job_id,
                    "seconds": seconds,
                    "pace": pace_seconds,
                    "window": self._window,
                    "first_probe": FIRST_PROBE_WINDOWS,
                    "max_probe": MAX_PROBE_WINDOWS,
                },
            )

    @database_errors
    async def refused(self, provider: str, job_id: uuid.UUID) -> None:
        """The provider answered 429 to `job_id`'s submission, past the time it holds the provider back: it
        leaves the window's count all the same."""
        async with self._engine.begin() as conn:
            await conn.execute(REFUSED, {"provider": provider, "job_id": job_id})

    @database_errors
    async def accepted(self, provider: str, job_id: uuid.UUID) -> None:
        """The provider accepted `job_id`'s submission: it counts in the window from now."""
        async with self._engine.begin() as conn:
            await conn.execute(ACCEPTED, {"provider": provider, "job_id": job_id})

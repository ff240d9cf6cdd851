"""The SQL of provider limits and fair share (job_service/limits.py has the rules as plain values).

Race-free across replicas: every claim of PENDING jobs runs in one transaction under one advisory lock, and
counts what holds a slot from the jobs rows themselves (a claimed PENDING job, SUBMITTING, PROCESSING), so
two replicas can never both take the last slot, and a replica that dies frees its slots when its leases
lapse (there is no counter to leak).

What the providers answer to those submissions (accepted, or 429 and the rate it teaches) is written by
throttle_queries.py; this module reads it when it claims.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_service.database import database_errors
from job_service.domain import JobState
from job_service.limits import (
    Blocked,
    Candidate,
    Cap,
    LearnedRate,
    ProviderLimit,
    ProviderQueue,
    Usage,
    blocked,
    pick,
    provider_room,
    waiting_message,
)
from job_service.tables import job_events, jobs, provider_backoff, provider_submits

# pg_advisory_xact_lock key of "claiming PENDING jobs" (an arbitrary constant, the same in every replica).
CLAIM_LOCK = 0x76_6A_73_6C_6F_74  # "vjslot"

_PROVIDER = "spec->'providers'->>provider_index"
_MODEL = "coalesce(spec->>'model', '')"
# A job holds a slot at its provider from its claim for submission until the provider finished it.
_HOLDING = "(state IN ('SUBMITTING', 'PROCESSING') OR (state = 'PENDING' AND locked_until >= now()))"
_WAITING = "state = 'PENDING' AND due_time <= now() AND (locked_until IS NULL OR locked_until < now())"

USAGE = text(
    f"""
    SELECT l.scope,
        (SELECT count(*) FROM jobs WHERE {_HOLDING} AND {_PROVIDER} = l.provider
            AND (l.model = '' OR {_MODEL} = l.model)) AS in_flight,
        (SELECT count(*) FROM provider_submits s WHERE s.provider = l.provider
            AND (l.model = '' OR s.model = l.model)
            AND s.submit_time > now() - make_interval(secs => :window)) AS recent
    FROM jsonb_to_recordset(CAST(:limits AS jsonb)) AS l(scope text, provider text, model text)
    """
)

# Providers that answered 429 lately: paused until not_before, then paced (one submission per spacing) for
# one window after the 429.
PACE = text(
    """
    SELECT provider,
        not_before > now() OR coalesce(last_submit > now() - make_interval(secs => spacing_seconds), false)
            AS paused
    FROM provider_backoff
    WHERE not_before > now() OR last_throttle > now() - make_interval(secs => :window)
    """
)

_RECENT = """(SELECT count(*) FROM provider_submits s WHERE s.provider = b.provider
    AND s.submit_time > now() - make_interval(secs => :window))"""

# The rates 429s taught us, with the submissions counted in the window as `submits_per_minute` counts them.
LEARNED = text(
    f"""
    SELECT b.provider, b.learned_rate, {_RECENT} AS recent
    FROM provider_backoff b WHERE b.learned_rate IS NOT NULL
    """
)

# A learned rate steps up by one after `probe_windows` windows without a 429 while it is what holds the
# provider back (the window is full): a rate learned during a transient dip recovers, and one that is not in
# use stays where it is. A step up that met no 429 halves the spell before the next (a dip recovers fast).
STEP_UP = text(
    f"""
    UPDATE provider_backoff b SET learned_rate = b.learned_rate + 1, rate_time = now(),
        probe_windows = CASE WHEN b.rate_time > b.last_throttle THEN greatest(b.probe_windows / 2, 1)
            ELSE b.probe_windows END
    WHERE b.learned_rate IS NOT NULL
        AND b.rate_time < now() - make_interval(secs => :window * b.probe_windows)
        AND {_RECENT} >= b.learned_rate
    """
)

# The waiting jobs in fair order: `turn` is how many jobs of the same user at the same provider hold a slot
# or wait ahead of this one; the lowest turn goes first, then the oldest.
_FAIR_ORDER = f"""
    waiting AS (
        SELECT id, user_id, due_time, {_PROVIDER} AS provider, {_MODEL} AS model FROM jobs WHERE {_WAITING}
    ),
    holding AS (
        SELECT user_id, {_PROVIDER} AS provider, count(*) AS n FROM jobs WHERE {_HOLDING} GROUP BY 1, 2
    ),
    fair AS (
        SELECT w.id, w.provider, w.model, w.due_time,
            row_number() OVER (PARTITION BY w.user_id, w.provider ORDER BY w.due_time, w.id) - 1
                + coalesce(h.n, 0) AS turn
        FROM waiting w LEFT JOIN holding h USING (user_id, provider)
        WHERE NOT EXISTS (
            SELECT 1 FROM jsonb_to_recordset(CAST(:blocked AS jsonb)) AS b(provider text, model text)
            WHERE b.provider = w.provider AND (b.model = '' OR b.model = w.model)
        )
    )
"""

# At most the provider's room per provider, so one saturated provider's queue never crowds out the others.
CANDIDATES = text(
    f"""
    WITH {_FAIR_ORDER},
    placed AS (
        SELECT *, row_number() OVER (PARTITION BY provider ORDER BY turn, due_time, id) AS place FROM fair
    )
    SELECT id, provider, model FROM placed
    WHERE place <= coalesce((CAST(:room AS jsonb)->>provider)::bigint, :limit)
    ORDER BY turn, due_time, id
    LIMIT :limit
    """
)

# How many waiting jobs of the same scope come before this one in fair order.
AHEAD = text(
    f"""
    WITH {_FAIR_ORDER}
    SELECT count(*) FROM fair o, fair me
    WHERE me.id = :id AND o.provider = me.provider AND (:model = '' OR o.model = me.model)
        AND (o.turn, o.due_time, o.id) < (me.turn, me.due_time, me.id)
    """
)

MARK_WAITING = text(
    f"""
    UPDATE jobs SET waiting_since = now()
    FROM jsonb_to_recordset(CAST(:blocked AS jsonb)) AS b(provider text, model text, why text)
    WHERE {_WAITING} AND waiting_since IS NULL
        AND b.provider = {_PROVIDER} AND (b.model = '' OR b.model = {_MODEL})
    RETURNING jobs.id, b.provider, b.why
    """
)

CLAIM_OVERDUE = text(
    f"""
    UPDATE jobs SET locked_until = now() + make_interval(secs => :lease), lease_token = gen_random_uuid()
    WHERE id IN (
        SELECT id FROM jobs
        JOIN jsonb_to_recordset(CAST(:queues AS jsonb)) AS q(provider text, model text, seconds float8)
            ON q.provider = {_PROVIDER} AND (q.model = '' OR q.model = {_MODEL})
        WHERE {_WAITING} AND waiting_since < now() - make_interval(secs => q.seconds)
            AND jsonb_array_length(spec->'providers') > provider_index + 1
        ORDER BY waiting_since
        LIMIT :limit
    )
    RETURNING *
    """
)

# Per provider: jobs waiting for submission, how long the oldest has waited, jobs holding a slot.
BACKLOG = text(
    f"""
    SELECT {_PROVIDER} AS provider,
        count(*) FILTER (WHERE {_WAITING}) AS waiting,
        coalesce(EXTRACT(EPOCH FROM now() - min(due_time) FILTER (WHERE {_WAITING})), 0) AS oldest,
        count(*) FILTER (WHERE {_HOLDING}) AS in_flight
    FROM jobs WHERE state IN ('PENDING', 'SUBMITTING', 'PROCESSING')
    GROUP BY 1
    """
)

# Per provider, for `videojobs admin queue`: 429s in the last hour (the "throttled" job events), and when the
# shared back-off lets it take a submission again (NULL: now).
QUEUE_TIMES = text(
    """
    SELECT p.provider,
        (SELECT count(*) FROM job_events e WHERE e.type = 'throttled' AND e.detail->>'provider' = p.provider
            AND e.create_time > now() - interval '1 hour') AS throttles,
        (SELECT b.learned_rate FROM provider_backoff b WHERE b.provider = p.provider) AS learned_rate,
        (SELECT CASE
            WHEN b.not_before > now() THEN b.not_before
            WHEN b.last_throttle > now() - make_interval(secs => :window)
                AND b.last_submit + make_interval(secs => b.spacing_seconds) > now()
                THEN b.last_submit + make_interval(secs => b.spacing_seconds)
         END FROM provider_backoff b WHERE b.provider = p.provider) AS backoff_until,
        (SELECT min(s.submit_time) + make_interval(secs => :window) FROM provider_submits s
            WHERE s.provider = p.provider AND s.submit_time > now() - make_interval(secs => :window))
            AS window_frees
    FROM unnest(CAST(:providers AS text[])) AS p(provider)
    """
)


@dataclass(frozen=True)
class _Now:
    """What holds submissions back at this moment."""

    usages: list[Usage]
    # Providers taking no submission now (paused after a 429, or paced and just submitted to).
    paused: list[str]
    # Providers paced after a 429 that may take one submission now.
    pacing: list[str]
    learned: list[LearnedRate]

    def blocked(self, window_seconds: float) -> list[Blocked]:
        return blocked(self.usages, self.paused, window_seconds, self.learned)


class LimitQueries:
    def __init__(
        self, engine: AsyncEngine, limits: Sequence[ProviderLimit], window_seconds: float = 60.0
    ) -> None:
        self._engine = engine
        self._limits = tuple(limits)
        self._window = window_seconds
        self._limits_json = json.dumps(
            [
                {"scope": limit.scope, "provider": limit.provider, "model": limit.model}
                for limit in self._limits
            ]
        )

    @property
    def limits(self) -> tuple[ProviderLimit, ...]:
        return self._limits

    @property
    def window_seconds(self) -> float:
        return self._window

    @database_errors
    async def claim_waiting(self, count: int, lease_seconds: float) -> list[Row[Any]]:
        """Claim up to `count` PENDING due jobs for submission, in fair order, within every limit; mark the
        ones held back as waiting (a `queued` event each, once per wait)."""
        async with self._engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
            await conn.execute(STEP_UP, {"window": self._window})
            now = await self._now(conn)
            overdue = await self._claim_overdue(conn, now, count, lease_seconds)
            count -= len(overdue)
            caps: list[Cap] = [
                Cap(usage.limit.provider, usage.limit.model, usage.room(self._window)) for usage in now.usages
            ]
            caps += [Cap(provider, "", 1) for provider in now.pacing]
            caps += [Cap(rate.provider, "", rate.room) for rate in now.learned]
            params = {
                "blocked": _blocked_json(now.blocked(self._window)),
                "room": json.dumps(provider_room(caps)),
                "limit": count,
            }
            candidates = [
                Candidate(row.id, row.provider, row.model) for row in await conn.execute(CANDIDATES, params)
            ]
            chosen = pick(candidates, caps, count)
            claimed = await self._claim(conn, chosen, lease_seconds)
            await self._record_submits(conn, chosen)
            paced = sorted({c.provider for c in chosen if c.provider in now.pacing})
            if paced:
                await conn.execute(
                    update(provider_backoff)
                    .where(provider_backoff.c.provider.in_(paced))
                    .values(last_submit=func.clock_timestamp())
                )
            # What is held back now includes the scopes this claim just filled.
            after = [
                Usage(usage.limit, usage.in_flight + taken, usage.recent_submits + taken)
                for usage in now.usages
                for taken in [sum(usage.limit.applies_to(c.provider, c.model) for c in chosen)]
            ]
            learned = [
                LearnedRate(rate.provider, rate.per_window, rate.recent_submits + taken)
                for rate in now.learned
                for taken in [sum(c.provider == rate.provider for c in chosen)]
            ]
            now_blocked = blocked(after, now.paused + paced, self._window, learned)
            if now_blocked:
                await self._mark_waiting(conn, now_blocked)
        return overdue + claimed

    async def _claim_overdue(
        self, conn: AsyncConnection, now: _Now, count: int, lease_seconds: float
    ) -> list[Row[Any]]:
        """Jobs that waited longer than their limit's max_queue_seconds and have a next provider, claimed
        with `waiting_since` kept: the orchestrator moves them on (fallback on saturation, opt-in)."""
        queues = [
            {"provider": scope.provider, "model": scope.model, "seconds": limit.max_queue_seconds}
            for scope in now.blocked(self._window)
            for limit in self._limits
            if limit.max_queue_seconds is not None
            and (limit.provider, limit.model) == (scope.provider, scope.model)
        ]
        if not queues or count <= 0:
            return []
        rows = await conn.execute(
            CLAIM_OVERDUE, {"queues": json.dumps(queues), "limit": count, "lease": lease_seconds}
        )
        return list(rows)

    async def _now(self, conn: AsyncConnection) -> _Now:
        usages: list[Usage] = []
        if self._limits:
            rows = {
                row.scope: row
                for row in await conn.execute(USAGE, {"limits": self._limits_json, "window": self._window})
            }
            usages = [
                Usage(limit, int(rows[limit.scope].in_flight), int(rows[limit.scope].recent))
                for limit in self._limits
            ]
        pace = list(await conn.execute(PACE, {"window": self._window}))
        learned = await conn.execute(LEARNED, {"window": self._window})
        return _Now(
            usages,
            paused=[row.provider for row in pace if row.paused],
            pacing=[row.provider for row in pace if not row.paused],
            learned=[LearnedRate(row.provider, int(row.learned_rate), int(row.recent)) for row in learned],
        )

    async def _claim(
        self, conn: AsyncConnection, chosen: Sequence[Candidate], lease_seconds: float
    ) -> list[Row[Any]]:
        if not chosen:
            return []
        result = await conn.execute(
            update(jobs)
            .where(
                jobs.c.id.in_([candidate.id for candidate in chosen]),
                jobs.c.state == JobState.PENDING.value,
                (jobs.c.locked_until.is_(None)) | (jobs.c.locked_until < func.now()),
            )
            .values(
                locked_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds),
                lease_token=func.gen_random_uuid(),
                waiting_since=None,
            )
            .returning(*jobs.c)
        )
        return list(result)

    async def _record_submits(self, conn: AsyncConnection, chosen: Sequence[Candidate]) -> None:
        # Every provider's, not only those with a configured rate: a 429 learns the rate from them. The wall
        # clock, not now(): that is when this transaction began, before it waited for the lock, and
        # an early time would let the window admit the next submission early. (Reads compare with now(),
        # which only counts more.)
        rated = [{"provider": c.provider, "model": c.model, "job_id": c.id} for c in chosen]
        await conn.execute(
            provider_submits.delete().where(
                provider_submits.c.submit_time
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, self._window)
            )
        )
        if rated:
            await conn.execute(insert(provider_submits).values(submit_time=func.clock_timestamp()), rated)

    async def _mark_waiting(self, conn: AsyncConnection, now_blocked: Sequence[Blocked]) -> None:
        marked = list(await conn.execute(MARK_WAITING, {"blocked": _blocked_json(now_blocked)}))
        if marked:
            await conn.execute(
                insert(job_events),
                [
                    {
                        "job_id": row.id,
                        "type": "queued",
                        "state": JobState.PENDING.value,
                        "message": waiting_message(row.provider, row.why, 0),
                        "detail": {"provider": row.provider, "reason": row.why},
                    }
                    for row in marked
                ],
            )

    @database_errors
    async def backlog(self) -> dict[str, tuple[int, float, int]]:
        """provider -> (jobs waiting for submission, oldest wait in seconds, jobs holding a slot)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(BACKLOG)
            return {row.provider: (int(row.waiting), float(row.oldest), int(row.in_flight)) for row in rows}

    @database_errors
    async def queue_stats(self, providers: Sequence[str]) -> list[ProviderQueue]:
        """What waits at each of `providers` and what holds it back, as every replica sees it."""
        async with self._engine.connect() as conn:
            backlog = {row.provider: row for row in await conn.execute(BACKLOG)}
            now = await self._now(conn)
            times = {
                row.provider: row
                for row in await conn.execute(
                    QUEUE_TIMES, {"providers": list(providers), "window": self._window}
                )
            }
        scopes = now.blocked(self._window)
        found = []
        for provider in providers:
            queued = backlog.get(provider)
            mine = [scope for scope in scopes if scope.provider == provider]
            timing = times[provider]
            # A full provider-wide rate limit frees when its oldest submission in the window leaves it; a full
            # slot has no known time (it frees when a job finishes).
            rate_full = any(scope.why == "rate" and not scope.model for scope in mine)
            candidates = [timing.backoff_until] + ([timing.window_frees] if rate_full else [])
            next_submit = max((t for t in candidates if t is not None), default=None)
            found.append(
                ProviderQueue(
                    provider=provider,
                    waiting=int(queued.waiting) if queued else 0,
                    in_flight=int(queued.in_flight) if queued else 0,
                    oldest_wait_seconds=float(queued.oldest) if queued else 0.0,
                    limits=tuple(limit for limit in self._limits if limit.provider == provider),
                    throttles_last_hour=int(timing.throttles),
                    learned_submits_per_minute=_per_minute(timing.learned_rate, self._window),
                    next_submit_time=next_submit,
                    blocked=tuple(f"{scope.model or provider}: {scope.why}" for scope in mine),
                )
            )
        return found

    @database_errors
    async def waiting_reason(self, job_id: uuid.UUID) -> str:
        """Why a PENDING job has not started, e.g. "waiting for a runway slot, 12 ahead"; "" if it is not held
        back by a limit now."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        f"SELECT {_PROVIDER} AS provider, {_MODEL} AS model FROM jobs "
                        f"WHERE id = :id AND waiting_since IS NOT NULL AND {_WAITING}"
                    ),
                    {"id": job_id},
                )
            ).first()
            if row is None:
                return ""
            now = await self._now(conn)
            mine = [
                scope
                for scope in now.blocked(self._window)
                if scope.provider == row.provider and scope.model in ("", row.model)
            ]
            if not mine:
                return ""
            scope = mine[0]
            ahead = await conn.scalar(AHEAD, {"id": job_id, "model": scope.model, "blocked": "[]"})
        return waiting_message(row.provider, scope.why, int(ahead or 0))


def _per_minute(per_window: int | None, window_seconds: float) -> int | None:
    return None if per_window is None else LearnedRate("", per_window, 0).per_minute(window_seconds)


def _blocked_json(scopes: Sequence[Blocked]) -> str:
    return json.dumps([{"provider": s.provider, "model": s.model, "why": s.why} for s in scopes])

"""Provider limits and fair share, as plain values: which waiting jobs may be submitted now.

A limit applies to a provider, or to one model of it (`spec.model`), and caps
  - max_in_flight: jobs holding a slot there (claimed for submission, SUBMITTING or PROCESSING);
  - submits_per_minute: submissions within the window (`window_seconds`, 60 unless shortened), each counted
    from its claim, and once the provider accepted it from then (a refused one not at all).
A provider that answered 429 takes no submissions until its shared `not_before`, and for one window after
the 429 at most one per the wait it asked for: the cap was too high, so we go at the pace it told us
(throttle_queries.py keeps this per provider, for every replica).
A 429 also teaches the provider's real rate: what it accepted in the window of the 429 becomes a cap of
submissions per window on top of the configured ones (the smaller wins), so a large backlog meets the
account's rate instead of a burst of 429s each window. It rises by one after a quiet spell, and only while
it is what holds the provider back (so never past what the provider is asked for, plus one). The spell starts
at `FIRST_PROBE_WINDOWS` windows, halves after a step up that met no 429 (a dip recovers fast) and doubles
after one that did (up to `MAX_PROBE_WINDOWS`): at the real rate, a step above it costs one 429 ever more
rarely, a handful however long the backlog lasts.

Fair share: waiting jobs are offered in order of their *turn*, how many jobs of the same user at the same
provider are in flight or waiting ahead of them, then age. A user with 500 queued jobs has turns 0..499 (plus
what is in flight), a user with one job has turn 0: the next free slot goes to whoever has least.

The SQL (counting, ordering, claiming under one advisory lock) is in limit_queries.py; what the providers
answered (accepted, 429, the learned rate) in throttle_queries.py.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

# A cap that never binds, for limits that set only some of their fields.
UNLIMITED = 1 << 30
# The quiet spell, in limits windows, before a learned rate steps up: at first, and at the longest (an hour
# at the 60 s window).
FIRST_PROBE_WINDOWS = 4
MAX_PROBE_WINDOWS = 64


@dataclass(frozen=True)
class ProviderLimit:
    provider: str
    # "" applies to every model of the provider.
    model: str = ""
    max_in_flight: int | None = None
    submits_per_minute: int | None = None
    # Opt-in: a job held back longer than this moves on to its next provider (if it has one).
    max_queue_seconds: float | None = None

    @property
    def scope(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider

    def applies_to(self, provider: str, model: str) -> bool:
        return self.provider == provider and (not self.model or self.model == model)

    def submits_per_window(self, window_seconds: float) -> int | None:
        """The rate as submissions allowed in one window (at least one, so a short window still admits)."""
        if self.submits_per_minute is None:
            return None
        return max(1, math.floor(self.submits_per_minute * window_seconds / 60.0))


def parse_scope(scope: str) -> tuple[str, str]:
    """ "runway" -> ("runway", ""); "runway/gen4_turbo" -> ("runway", "gen4_turbo")."""
    provider, _, model = scope.partition("/")
    return provider, model


@dataclass(frozen=True)
class Usage:
    """What a limit's scope holds right now."""

    limit: ProviderLimit
    in_flight: int
    recent_submits: int

    def room(self, window_seconds: float) -> int:
        free = UNLIMITED
        if self.limit.max_in_flight is not None:
            free = min(free, self.limit.max_in_flight - self.in_flight)
        per_window = self.limit.submits_per_window(window_seconds)
        if per_window is not None:
            free = min(free, per_window - self.recent_submits)
        return max(free, 0)


@dataclass(frozen=True)
class LearnedRate:
    """The submissions per window a provider's 429s taught us, and how many the window holds now."""

    provider: str
    per_window: int
    recent_submits: int

    @property
    def room(self) -> int:
        return max(self.per_window - self.recent_submits, 0)

    def per_minute(self, window_seconds: float) -> int:
        return max(1, round(self.per_window * 60.0 / window_seconds))


@dataclass(frozen=True)
class Cap:
    """Free capacity of one scope (a limit, or a provider's pace after a 429) for this claim."""

    provider: str
    model: str
    room: int

    def applies_to(self, provider: str, model: str) -> bool:
        return self.provider == provider and (not self.model or self.model == model)


@dataclass(frozen=True)
class Candidate:
    """A PENDING job due for submission, in fair order."""

    id: uuid.UUID
    provider: str
    model: str


def pick(candidates: Iterable[Candidate], caps: Sequence[Cap], count: int) -> list[Candidate]:
    """The first `count` candidates (in the given, fair, order) that fit in every cap applying to them;
    a job takes one unit of each of its caps."""
    left = [cap.room for cap in caps]
    chosen: list[Candidate] = []
    for candidate in candidates:
        if len(chosen) >= count:
            break
        mine = [i for i, cap in enumerate(caps) if cap.applies_to(candidate.provider, candidate.model)]
        if any(left[i] <= 0 for i in mine):
            continue
        for i in mine:
            left[i] -= 1
        chosen.append(candidate)
    return chosen


def provider_room(caps: Sequence[Cap]) -> dict[str, int]:
    """The least room of each provider's provider-wide caps (model caps are left to `pick`)."""
    room: dict[str, int] = {}
    for cap in caps:
        if not cap.model:
            room[cap.provider] = min(room.get(cap.provider, UNLIMITED), cap.room)
    return room


@dataclass(frozen=True)
class Blocked:
    """A scope that takes no submission now, and why."""

    provider: str
    model: str
    why: str  # "slot" | "rate" | "backoff"


def blocked(
    usages: Sequence[Usage],
    backed_off: Iterable[str],
    window_seconds: float,
    learned: Sequence[LearnedRate] = (),
) -> list[Blocked]:
    """The scopes at a limit: in-flight cap reached, window's submissions used up (configured or learned
    from 429s), or backing off."""
    found = [Blocked(provider, "", "backoff") for provider in sorted(set(backed_off))]
    found += [Blocked(rate.provider, "", "rate") for rate in learned if rate.room <= 0]
    for usage in usages:
        limit = usage.limit
        if usage.room(window_seconds) > 0:
            continue
        full = limit.max_in_flight is not None and usage.in_flight >= limit.max_in_flight
        found.append(Blocked(limit.provider, limit.model, "slot" if full else "rate"))
    return found


@dataclass(frozen=True)
class ProviderQueue:
    """One provider's backlog and what holds it back (`videojobs admin queue`)."""

    provider: str
    waiting: int
    in_flight: int
    oldest_wait_seconds: float
    limits: tuple[ProviderLimit, ...]
    throttles_last_hour: int
    # The submission rate the provider's 429s taught us, per minute; None when none is in force.
    learned_submits_per_minute: int | None
    # When a submission is allowed again after a 429 or a full provider-wide rate; None: now, or when a slot
    # frees (see `blocked`).
    next_submit_time: datetime | None
    # The scopes at a limit now, e.g. "runway: slot", "gen4_turbo: rate".
    blocked: tuple[str, ...]


def waiting_message(provider: str, why: str, ahead: int) -> str:
    """What GetJob shows for a job held back by a limit, e.g. "waiting for a runway slot, 12 ahead"."""
    wait = {
        "slot": f"waiting for a {provider} slot",
        "rate": f"waiting for {provider}'s submission rate limit",
        "backoff": f"waiting: {provider} asked us to slow down",
    }[why]
    return f"{wait}, {ahead} ahead" if ahead else wait

"""The one jitter formula and the one Retry-After reader every service uses."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from job_service.settings import JobServiceSettings
from tests.support.policy import deployed_policy
from videojobs.backoff import full_jitter, retry_after_seconds, schedule_ceilings, shortened_jitter


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = time.time()
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("-3") == 0
    assert retry_after_seconds(email.utils.formatdate(now + 120, usegmt=True), now=now) == pytest.approx(
        120, abs=1
    )
    assert retry_after_seconds(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds(None) is None


def test_full_jitter_spans_zero_to_the_capped_exponential_ceiling() -> None:
    random.seed(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 10.0)]:
        waits = [full_jitter(attempt, base=1.0, cap=10.0) for _ in range(2000)]
        assert 0.0 <= min(waits) < ceiling * 0.05  # full jitter reaches down to zero ...
        assert ceiling * 0.95 < max(waits) <= ceiling  # ... and up to the ceiling, never past it


def test_the_orchestrator_backs_off_with_full_jitter_but_never_sooner_than_asked() -> None:
    random.seed(11)
    policy = deployed_policy(retry_base_seconds=1.0, retry_max_seconds=60.0)
    waits = [policy.backoff(3, None) for _ in range(2000)]
    assert min(waits) < 0.2
    assert 3.8 < max(waits) <= 4.0
    assert all(policy.backoff(3, 30.0) == 30.0 for _ in range(100))


def test_the_default_webhook_schedule_lasts_about_a_day_as_documented() -> None:
    defaults = JobServiceSettings.model_fields
    base = defaults["webhook_retry_base_seconds"].default
    cap = defaults["webhook_retry_max_seconds"].default
    attempts = defaults["webhook_max_attempts"].default
    ceilings = schedule_ceilings(attempts, base=base, cap=cap)
    assert ceilings[:3] == [15, 30, 60]
    assert ceilings[-3:] == [21600, 21600, 21600]
    hours = sum(ceilings) / 3600
    assert 26 < hours < 27  # the README: the last attempt 21 to 27 h after the first
    assert 21 < hours * 0.8 < 22


def test_shortened_jitter_stays_within_a_fifth_below_the_ceiling() -> None:
    waits = [shortened_jitter(4, base=15, cap=21600) for _ in range(500)]
    assert all(0.8 * 120 <= wait <= 120 for wait in waits)
    assert max(waits) - min(waits) > 10  # spread, not a constant

"""Provider limits as plain values: the room a limit leaves, who gets it, and what a waiting job is told."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from job_service.limits import (
    UNLIMITED,
    Candidate,
    Cap,
    ProviderLimit,
    Usage,
    blocked,
    parse_scope,
    pick,
    provider_room,
    waiting_message,
)
from job_service.settings import DEFAULT_LIMITS, JobServiceSettings, ProviderLimitSetting


def _candidate(provider: str, model: str = "") -> Candidate:
    return Candidate(uuid.uuid4(), provider, model)


def test_room_is_the_tighter_of_the_in_flight_cap_and_the_rate() -> None:
    limit = ProviderLimit("runway", max_in_flight=4, submits_per_minute=60)
    assert Usage(limit, in_flight=1, recent_submits=0).room(window_seconds=60) == 3
    assert Usage(limit, in_flight=1, recent_submits=59).room(window_seconds=60) == 1
    # A shortened window scales the rate: 60 a minute is 2 in 2 s.
    assert Usage(limit, in_flight=0, recent_submits=1).room(window_seconds=2) == 1
    assert Usage(limit, in_flight=5, recent_submits=0).room(window_seconds=60) == 0
    assert Usage(ProviderLimit("fal"), 100, 100).room(60) == UNLIMITED


def test_a_short_window_still_admits_one_submission() -> None:
    assert ProviderLimit("veo", submits_per_minute=10).submits_per_window(1.0) == 1


def test_pick_keeps_the_order_and_fits_every_cap_of_a_job() -> None:
    turbo = [_candidate("runway", "gen4_turbo") for _ in range(3)]
    other = [_candidate("runway", "gen4.5") for _ in range(3)]
    fal = [_candidate("fal") for _ in range(3)]
    caps = [Cap("runway", "", 3), Cap("runway", "gen4_turbo", 1)]
    chosen = pick([*turbo, *other, *fal], caps, count=10)
    # One turbo (its model cap), two more runway jobs (the provider cap), every fal job (no cap).
    assert chosen == [turbo[0], other[0], other[1], *fal]
    assert pick([*turbo, *fal], caps, count=2) == [turbo[0], fal[0]]


def test_provider_room_takes_the_tightest_provider_wide_cap() -> None:
    caps = [Cap("runway", "", 3), Cap("runway", "", 1), Cap("runway", "gen4_turbo", 0), Cap("veo", "", 2)]
    assert provider_room(caps) == {"runway": 1, "veo": 2}


def test_blocked_names_why() -> None:
    usages = [
        Usage(ProviderLimit("runway", max_in_flight=2), in_flight=2, recent_submits=0),
        Usage(ProviderLimit("veo", submits_per_minute=10), in_flight=3, recent_submits=10),
        Usage(ProviderLimit("fal", max_in_flight=10), in_flight=2, recent_submits=0),
    ]
    found = {(scope.provider, scope.why) for scope in blocked(usages, ["sim"], window_seconds=60)}
    assert found == {("runway", "slot"), ("veo", "rate"), ("sim", "backoff")}


def test_waiting_messages() -> None:
    assert waiting_message("runway", "slot", 12) == "waiting for a runway slot, 12 ahead"
    assert waiting_message("runway", "slot", 0) == "waiting for a runway slot"
    assert waiting_message("veo", "rate", 1) == "waiting for veo's submission rate limit, 1 ahead"


def test_scopes() -> None:
    assert parse_scope("runway") == ("runway", "")
    assert parse_scope("fal/fal-ai/veo3.1") == ("fal", "fal-ai/veo3.1")
    assert ProviderLimit("fal", "fal-ai/veo3.1").scope == "fal/fal-ai/veo3.1"


def test_limits_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOJOBS_LIMITS", '{"runway": {"max_in_flight": 4}, "veo/veo-3.1-generate-001": {}}')
    limits = JobServiceSettings().limits
    assert limits["runway"] == ProviderLimitSetting(max_in_flight=4)
    assert limits["veo/veo-3.1-generate-001"] == ProviderLimitSetting()
    monkeypatch.delenv("VIDEOJOBS_LIMITS")
    assert JobServiceSettings().limits == DEFAULT_LIMITS


@pytest.mark.parametrize(
    "value", ['{"nope": {}}', '{"runway": {"max_in_flight": 0}}', '{"runway": {"max_inflight": 2}}']
)
def test_bad_limits_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VIDEOJOBS_LIMITS", value)
    with pytest.raises(ValidationError):
        JobServiceSettings()

"""Small pure pieces: the token bucket, the key cache, Idempotency-Key, Last-Event-ID, and the status table
against the one docs/api.md publishes."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from cachetools import TTLCache

from gateway.idempotency import choose_key, parse_idempotency_key
from gateway.problems import Problem, from_rpc_error
from gateway.ratelimit import RateLimiter
from gateway.sse import parse_last_event_id


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.acquire("u") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("u") == pytest.approx(0.5)
    assert limiter.acquire("other") is None
    clock.now += 0.5
    assert limiter.acquire("u") is None
    assert limiter.acquire("u") is not None
    clock.now += 60
    assert [limiter.acquire("u") for _ in range(4)][-1] is not None  # refills only up to the burst


def test_disabled_limiter_allows_everything() -> None:
    limiter = RateLimiter(per_second=0, burst=1)
    assert all(limiter.acquire("u") is None for _ in range(1000))


def test_api_key_cache_expires_and_stays_bounded() -> None:
    """What gateway.auth relies on from cachetools' TTLCache: least recently used out first, nothing
    served at or past its expiry, and a ttl of 0 (VIDEOJOBS_API_KEY_CACHE_SECONDS=0) caches nothing."""
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(maxsize=2, ttl=10, timer=clock)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.get("a") == 1  # a is now the most recent
    cache["c"] = 3
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    clock.now += 10
    assert cache.get("a") is None
    assert len(cache) == 0
    uncached: TTLCache[str, int] = TTLCache(maxsize=2, ttl=0, timer=clock)
    uncached["a"] = 1
    assert uncached.get("a") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("abc", "abc"), ('"abc"', "abc"), ('  "8e03978e-40d5"  ', "8e03978e-40d5")],
)
def test_idempotency_key_is_read_quoted_or_bare(header: str | None, expected: str | None) -> None:
    assert parse_idempotency_key(header) == expected


@pytest.mark.parametrize("header", ["", '""', '"a"b"', '"a\\b"'])
def test_empty_or_badly_quoted_idempotency_keys_are_400(header: str) -> None:
    with pytest.raises(Problem) as raised:
        parse_idempotency_key(header)
    assert raised.value.status == 400


def test_the_idempotency_header_wins_over_the_body_key() -> None:
    assert choose_key('"h"', "b") == "h"
    assert choose_key(None, "b") == "b"
    assert choose_key(None, None) == ""


@pytest.mark.parametrize(("value", "expected"), [(None, 0), ("17", 17), (" 3 ", 3), ("x", 0), ("-1", 0)])
def test_last_event_id_is_a_sequence_and_anything_else_starts_over(value: str | None, expected: int) -> None:
    assert parse_last_event_id(value) == expected


def documented_statuses() -> dict[grpc.StatusCode, int]:
    """The table of gRPC codes and HTTP statuses that docs/api.md promises clients (every other code: 500)."""
    document = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    table = document.split("| gRPC code | HTTP |", 1)[1].split("| every other code | 500 |", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)`[^|]*\| (\d{3})\b", table, flags=re.MULTILINE)
    return {grpc.StatusCode[name]: int(status) for name, status in rows}


CONTRACT = documented_statuses()


@pytest.mark.parametrize("code", [code for code in grpc.StatusCode if code != grpc.StatusCode.OK])
def test_grpc_codes_map_as_the_contract_says(code: grpc.StatusCode) -> None:
    error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "10.0.0.7:50051 said no")
    problem = from_rpc_error(error)
    assert problem.status == CONTRACT.get(code, 500)
    assert problem.reason == code.name
    assert "10.0.0.7" not in problem.detail  # a status not from our services never shows its text
    retry_after = problem.response_headers().get("retry-after")
    assert (retry_after is not None) == (problem.status in (429, 503))

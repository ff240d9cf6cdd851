"""Unauthenticated traffic cannot turn into backend calls at will: after N failed authentications from one
address the next attempts get 429 without reaching job_service, and webhook deliveries are limited per
address before ParseWebhook is called."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.support.gateway import StartStack

JWT_SECRET = "a-test-jwt-secret-of-at-least-32-characters"


def count_key_lookups(stack: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The API keys job_service was asked about (its own use case, called by the real RPC)."""
    asked: list[str] = []
    jobs = stack.jobs.jobs
    lookup = jobs.authenticate_api_key

    async def counted(api_key: str) -> Any:
        asked.append(api_key)
        return await lookup(api_key)

    monkeypatch.setattr(jobs, "authenticate_api_key", counted)
    return asked


async def test_failed_authentications_from_one_address_are_limited_before_the_backend(
    start_stack: StartStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = await start_stack(auth_failure_per_second=0.01, auth_failure_burst=5, jwt_secret=JWT_SECRET)
    asked = count_key_lookups(stack, monkeypatch)
    known = await stack.key("alice")
    unseen = await stack.key("bob")
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:

        async def quota(token: str) -> httpx.Response:
            return await client.get("/v1/quota", headers={"authorization": f"Bearer {token}"})

        assert (await quota(known)).status_code == 200  # now cached
        statuses = [(await quota(f"vj_{secrets.token_urlsafe(32)}")).status_code for _ in range(50)]
        limited = await quota(f"vj_{secrets.token_urlsafe(32)}")
        # Clients behind the same address are not all shut out: what needs no lookup still works...
        with_known_key = await quota(known)
        jwt_token = jwt.encode({"sub": "carol", "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
        with_jwt = await quota(jwt_token)
        # ...but a key the gateway has not seen waits, like the guesses (no lookup for it either).
        with_unseen_key = await quota(unseen)

    assert statuses == [401] * 5 + [429] * 45
    assert len(asked) == 1 + 5
    assert limited.json()["reason"] == "AUTH_RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1
    assert (with_known_key.status_code, with_jwt.status_code) == (200, 200)
    assert with_unseen_key.status_code == 429


async def test_malformed_credentials_count_as_failures_too(start_stack: StartStack) -> None:
    stack = await start_stack(auth_failure_per_second=0.01, auth_failure_burst=3)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        statuses = [(await client.get("/v1/quota")).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


async def test_successful_authentications_are_not_counted(
    start_stack: StartStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = await start_stack(auth_failure_per_second=0.01, auth_failure_burst=2, api_key_cache_seconds=0)
    asked = count_key_lookups(stack, monkeypatch)
    async with await stack.client("alice") as alice:
        statuses = [(await alice.get("/v1/quota")).status_code for _ in range(10)]
    assert statuses == [200] * 10
    assert len(asked) == 10


async def test_webhooks_are_limited_per_address_before_parse_webhook(start_stack: StartStack) -> None:
    stack = await start_stack(webhook_rate_per_second=0.01, webhook_rate_burst=10)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        statuses = []
        for index in range(40):
            body = f'{{"request_id": "bogus-{index}", "state": "SUCCEEDED"}}'.encode()
            response = await client.post(
                "/v1/webhooks/sim", content=body, headers={"x-test-signature": "forged"}
            )
            statuses.append(response.status_code)

    assert statuses == [401] * 10 + [429] * 30
    assert len(stack.providers.received) == 10
    assert response.json()["reason"] == "WEBHOOK_RATE_LIMITED"


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(start_stack: StartStack) -> None:
    stack = await start_stack(
        auth_failure_per_second=0.01, auth_failure_burst=3, trusted_proxies=("127.0.0.0/8",)
    )
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:

        async def attempt(forwarded: str) -> int:
            headers = {"authorization": "Bearer vj_wrong", "x-forwarded-for": forwarded}
            return (await client.get("/v1/quota", headers=headers)).status_code

        # The client may write anything on the left; the address the proxy appended is the one counted.
        first = [await attempt(f"10.9.9.{n}, 203.0.113.5") for n in range(5)]
        other = await attempt("203.0.113.6")
        through_two_proxies = await attempt("203.0.113.5, 127.0.0.2")

    assert first == [401, 401, 401, 429, 429]
    assert other == 401
    assert through_two_proxies == 429


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(start_stack: StartStack) -> None:
    stack = await start_stack(auth_failure_per_second=0.01, auth_failure_burst=3)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        statuses = [
            (
                await client.get(
                    "/v1/quota",
                    headers={"authorization": "Bearer vj_wrong", "x-forwarded-for": f"198.51.100.{n}"},
                )
            ).status_code
            for n in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]

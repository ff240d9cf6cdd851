"""Health, readiness, metrics, request ids, docs, the dashboard page, and rate limiting."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.cli import health
from tests.support.fake_provider_service import sign
from tests.support.gateway import Stack, StartStack, stack_running
from tests.support.grpc_client import metadata
from tests.support.proxy import CuttableProxy
from tests.support.services import job_stub
from videojobs.v1 import common_pb2, job_service_pb2


async def test_healthz_is_ok_and_readyz_reports_each_backend_serving(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["backends"] == {"job_service": "serving", "provider_service": "serving"}


async def test_readyz_is_503_when_a_backend_is_down(start_stack: StartStack) -> None:
    stack = await start_stack(provider_target="127.0.0.1:1")
    async with httpx.AsyncClient(base_url=stack.url) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["backends"] == {"job_service": "serving", "provider_service": "unavailable"}


@pytest.mark.parametrize("provider_down", [False, True], ids=["ready", "provider-down"])
async def test_the_container_healthcheck_follows_readyz(start_stack: StartStack, provider_down: bool) -> None:
    """`videojobs health gateway` (compose's healthcheck, which its dependants wait for) is /readyz."""
    stack = await start_stack(**({"provider_target": "127.0.0.1:1"} if provider_down else {}))
    port = str(urlsplit(stack.url).port)
    probe = await health("gateway", {"VIDEOJOBS_GATEWAY_HOST": "0.0.0.0", "VIDEOJOBS_GATEWAY_PORT": port})
    assert probe.returncode == (1 if provider_down else 0), probe.stdout + probe.stderr
    assert f"gateway at http://127.0.0.1:{port}/readyz: HTTP {503 if provider_down else 200}" in probe.stdout


async def test_a_down_backend_is_a_503_problem_without_internal_addresses(start_stack: StartStack) -> None:
    stack = await start_stack(job_target="127.0.0.1:1", rpc_timeout_seconds=1.0)
    async with httpx.AsyncClient(base_url=stack.url) as client:
        response = await client.get("/v1/quota", headers={"authorization": "Bearer vj_some-key"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert "127.0.0.1" not in response.text


async def test_request_id_is_echoed_and_reaches_the_backends(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    body = b'{"request_id": "r1", "state": "RUNNING"}'
    given = await anonymous.post(
        "/v1/webhooks/fal", content=body, headers={"x-request-id": "trace-me-123", "x-test-signature": "bad"}
    )
    made_up = await anonymous.get("/healthz")
    invalid = await anonymous.get("/healthz", headers={"x-request-id": "has spaces in it"})

    assert given.headers["x-request-id"] == "trace-me-123"
    assert given.json()["request_id"] == "trace-me-123"
    assert stack.providers.received[-1].request_id == "trace-me-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["x-request-id"])
    assert invalid.headers["x-request-id"] != "has spaces in it"


async def test_webhook_with_a_forged_signature_is_401_and_body_passes_through_unchanged(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    body = json.dumps({"request_id": "fal-123", "state": "SUCCEEDED"}, indent=1).encode()
    forged = await anonymous.post(
        "/v1/webhooks/fal?app=fal-ai/some-model",
        content=body,
        headers={"X-Test-Signature": sign(b"other body"), "X-Fal-Extra": "1"},
    )
    unknown_provider = await anonymous.post("/v1/webhooks/acme", content=body)

    assert forged.status_code == 401
    assert forged.json()["reason"] == "BAD_SIGNATURE"
    received = stack.providers.received[-1]
    assert received.provider == "fal"
    assert received.body == body
    assert received.headers["x-fal-extra"] == "1"
    assert received.url.endswith("/v1/webhooks/fal?app=fal-ai/some-model")  # the model travels in the URL
    assert all(name == name.lower() for name in received.headers)
    assert unknown_provider.status_code == 422


async def test_metrics_count_requests_by_route_template_and_jobs(stack: Stack) -> None:
    async with await stack.client("metered") as client:
        first = await client.post("/v1/videos", json={"prompt": "m"}, headers={"Idempotency-Key": "k1"})
        await client.post("/v1/videos", json={"prompt": "m"}, headers={"Idempotency-Key": "k1"})
        await client.get(f"/v1/videos/{first.json()['id']}")
        await client.get("/v1/videos/00000000-0000-4000-8000-000000000000")
        text = (await client.get("/metrics")).text

    assert 'videojobs_http_requests_total{method="POST",route="/v1/videos",status="201"} 1.0' in text
    assert 'videojobs_http_requests_total{method="POST",route="/v1/videos",status="200"} 1.0' in text
    assert 'videojobs_http_requests_total{method="GET",route="/v1/videos/{job_id}",status="404"} 1.0' in text
    assert (
        'videojobs_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/v1/videos/{job_id}"}'
        in text
    )
    assert 'videojobs_gateway_jobs_total{outcome="created"} 1.0' in text
    assert 'videojobs_gateway_jobs_total{outcome="replayed"} 1.0' in text
    assert first.json()["id"] not in text  # raw paths never become label values


async def test_docs_openapi_and_dashboard_are_served(anonymous: httpx.AsyncClient) -> None:
    schema = (await anonymous.get("/openapi.json")).json()
    docs = await anonymous.get("/docs")
    page = await anonymous.get("/", follow_redirects=True)

    for path in ["/v1/videos", "/v1/videos/{job_id}/events", "/v1/webhooks/{provider}", "/api/video/animate"]:
        assert path in schema["paths"]
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"


async def test_rate_limit_per_user_is_429_with_retry_after(start_stack: StartStack) -> None:
    stack = await start_stack(rate_limit_per_second=1, rate_limit_burst=5)
    async with await stack.client("greedy") as greedy, await stack.client("patient") as patient:
        bursts = await asyncio.gather(*(greedy.get("/v1/quota") for _ in range(8)))
        other = await patient.get("/v1/quota")
        metrics = (await patient.get("/metrics")).text

    statuses = sorted(r.status_code for r in bursts)
    assert statuses == [200] * 5 + [429] * 3
    refused = next(r for r in bursts if r.status_code == 429)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert other.status_code == 200
    assert "videojobs_gateway_rate_limited_total 3.0" in metrics


async def test_readyz_is_503_while_postgres_is_frozen_and_200_once_it_answers(database_url: str) -> None:
    """job_service pings Postgres (through a proxy the test freezes, as SIGSTOP would) and reports its API
    not serving; the gateway's /readyz says so within a few seconds, and recovers."""
    proxy, proxied = await postgres_proxy(database_url)
    job = {"ready_probe_interval_seconds": 0.2, "ready_probe_timeout_seconds": 1.0, "ready_probe_misses": 2}
    try:
        async with (
            stack_running(proxied, job) as stack,
            httpx.AsyncClient(base_url=stack.url, timeout=10) as client,
        ):
            await readyz_until(client, 200)  # a ping late under load may report not ready for a moment
            proxy.freeze()
            started = asyncio.get_running_loop().time()
            frozen = await readyz_until(client, 503)
            assert asyncio.get_running_loop().time() - started < 5
            assert frozen.json()["backends"]["job_service"] == "unavailable"
            proxy.thaw()
            await readyz_until(client, 200)
    finally:
        await proxy.stop()


async def test_readyz_stays_200_while_the_request_pool_is_busy(database_url: str) -> None:
    """A create holds job_service's only request connection (blocked on its user's lock, as behind a burst of
    creates): Postgres still answers, so the readiness ping, on a connection of its own, keeps the API
    serving; a ping through the busy pool would have missed twice within the second."""
    job = {
        "ready_probe_interval_seconds": 0.1,
        "ready_probe_timeout_seconds": 0.3,
        "ready_probe_misses": 2,
        "db_pool_size": 1,
    }
    async with (
        stack_running(database_url, job) as stack,
        httpx.AsyncClient(base_url=stack.url, timeout=10) as client,
        job_stub(stack.jobs.port) as jobs,
        await psycopg.AsyncConnection.connect(database_url) as holder,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as watcher,
    ):
        await readyz_until(client, 200)
        await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('alice', 0))")
        request = job_service_pb2.CreateJobRequest(spec=common_pb2.VideoSpec(prompt="behind the lock"))
        create = asyncio.ensure_future(jobs.CreateJob(request, metadata=metadata("alice")))
        async with asyncio.timeout(10):
            while not await _waiting_on_the_lock(watcher):  # noqa: ASYNC110 - polled over SQL
                await asyncio.sleep(0.05)
        for _ in range(15):  # 1.5 s: five ping timeouts
            assert (await client.get("/readyz")).status_code == 200
            await asyncio.sleep(0.1)
        assert not create.done()
        await holder.rollback()
        assert (await create).created


async def _waiting_on_the_lock(watcher: psycopg.AsyncConnection[Any]) -> bool:
    """Outside any transaction: pg_stat_activity is a snapshot per transaction."""
    cursor = await watcher.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def postgres_proxy(database_url: str) -> tuple[CuttableProxy, str]:
    """A started proxy to the test's Postgres (on TCP or, as the test server is, a Unix socket) and the
    database URL that goes through it."""
    address = make_url(database_url)
    socket_dir = address.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        proxy = CuttableProxy(0, unix_path=f"{socket_dir}/.s.PGSQL.{address.port or 5432}")
    else:
        proxy = CuttableProxy(address.port or 5432, address.host or "127.0.0.1")
    await proxy.start()
    through = address.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port)
    return proxy, through.render_as_string(hide_password=False)


async def readyz_until(client: httpx.AsyncClient, status: int) -> httpx.Response:
    async with asyncio.timeout(10):
        while (response := await client.get("/readyz")).status_code != status:  # noqa: ASYNC110 - polled over HTTP
            await asyncio.sleep(0.1)
    return response


async def test_a_gateway_with_the_wrong_internal_token_is_a_500_that_names_no_setting(
    start_stack: StartStack,
) -> None:
    """Not 401 "unknown API key" (the client's key is fine, and must not be remembered as bad), and not the
    job_service's text, which names VIDEOJOBS_INTERNAL_TOKEN."""
    stack = await start_stack(internal_token="not-the-token-job-service-expects")
    key = await stack.key("alice")
    async with httpx.AsyncClient(base_url=stack.url, headers={"authorization": f"Bearer {key}"}) as client:
        responses = [await client.get("/v1/quota") for _ in range(3)]
    for response in responses:
        assert response.status_code == 500, response.text
        assert response.json()["reason"] == "INVALID_INTERNAL_TOKEN"
        assert "VIDEOJOBS_" not in response.text

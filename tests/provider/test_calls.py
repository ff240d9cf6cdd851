"""The retry rules in isolation (httpx.MockTransport), and what reaches the logs."""

from __future__ import annotations

import time

import google.auth.exceptions
import httpx
import pytest
import structlog

from provider_service import calls as calls_module
from provider_service.calls import ProviderHttp, RetryPolicy, json_object, make_client
from provider_service.domain import GenerationRequest
from provider_service.google_auth import TimedRequest
from provider_service.local_http import DROP, Drop, LocalHttpServer, Request
from provider_service.registry import build_registry
from provider_service.settings import ProviderServiceSettings
from videojobs import errors


def _http(handler: httpx.MockTransport, attempts: int = 3) -> ProviderHttp:
    client = make_client(connect_timeout=1, timeout=1, transport=handler)
    return ProviderHttp(
        "test",
        client,
        RetryPolicy(attempts=attempts, initial=0.001, max_wait=0.05, fallback_retry_after=15.0),
    )


async def test_status_calls_retry_5xx_then_succeed() -> None:
    answers = iter([httpx.Response(500), httpx.Response(429), httpx.Response(200, json={"ok": 1})])
    http = _http(httpx.MockTransport(lambda request: next(answers)))
    assert await http.call("GET", "https://p/x", json_object) == {"ok": 1}


async def test_submit_resends_only_when_not_accepted() -> None:
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(sent) == 2:
            return httpx.Response(503)
        return httpx.Response(500)

    http = _http(httpx.MockTransport(handler), attempts=5)
    with pytest.raises(errors.Unavailable) as raised:
        await http.submit("POST", "https://p/submit", json_object)
    assert raised.value.reason == "SUBMIT_OUTCOME_UNKNOWN"
    assert len(sent) == 3, "connect error and 503 resent; the 500 was not"


async def test_read_timeout_on_submit_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(errors.Unavailable) as raised:
        await _http(httpx.MockTransport(handler)).submit("POST", "https://p/submit", json_object)
    assert raised.value.reason == "SUBMIT_OUTCOME_UNKNOWN"


async def test_secrets_never_reach_the_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Gemini key rides in headers and in the status' output_fetch_headers; no log line may show it."""
    secret = "AIza-very-secret-key"
    calls = iter(
        [
            httpx.Response(502, text=f"echoing {secret}"),
            httpx.Response(200, json={"name": "models/veo/operations/op1"}),
            httpx.Response(500),
            httpx.Response(
                200,
                json={
                    "done": True,
                    "response": {
                        "generateVideoResponse": {"generatedSamples": [{"video": {"uri": "https://g/f"}}]}
                    },
                },
            ),
        ]
    )
    settings = ProviderServiceSettings(
        veo_mode="gemini", gemini_api_key=secret, sim_url=None, retry_initial_seconds=0, retry_max_seconds=0
    )
    registry = build_registry(settings, transport=httpx.MockTransport(lambda request: next(calls)))
    adapter = registry.get("veo")
    # A logger at DEBUG that keeps every event (the session's loggers filter below WARNING).
    capture = structlog.testing.LogCapture()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(0)
    )
    monkeypatch.setattr(calls_module, "log", logger)
    with pytest.raises(errors.Unavailable):  # the 502 makes the outcome unknown, which is logged
        await adapter.submit(GenerationRequest(prompt="x"))
    job_id = (await adapter.submit(GenerationRequest(prompt="x"))).provider_job_id
    status = await adapter.status(job_id)  # a 500 first: a retry, logged
    await registry.aclose()
    logs = capture.entries
    logged = repr(logs)
    assert "submission outcome unknown" in logged
    assert "provider call failed; retrying" in logged
    assert status.output_fetch_headers == {"x-goog-api-key": secret}
    assert secret not in logged
    assert secret not in repr(status)


async def test_an_answer_of_the_wrong_shape_is_retried_not_a_crash() -> None:
    """JSON that parses but has the wrong types (a string progress, a null object) counts as malformed."""
    answers = iter(
        [
            httpx.Response(200, json={"id": "t1", "status": "RUNNING", "progress": "half"}),
            httpx.Response(200, json={"id": "t1", "status": "SUCCEEDED", "output": ["https://o/1.mp4"]}),
            *[httpx.Response(200, json={"id": "t1", "status": "RUNNING", "progress": [1]})] * 6,
        ]
    )
    settings = ProviderServiceSettings(
        runway_api_secret="key_x",
        sim_url=None,
        retry_attempts=3,
        retry_initial_seconds=0,
        retry_max_seconds=0,
    )
    registry = build_registry(settings, transport=httpx.MockTransport(lambda request: next(answers)))
    adapter = registry.get("runway")
    status = await adapter.status("t1")
    assert status.output_uris == ("https://o/1.mp4",)
    with pytest.raises(errors.Unavailable) as raised:
        await adapter.status("t1")
    assert "unexpected shape" in raised.value.message
    await registry.aclose()


def test_token_requests_give_up_at_our_timeout() -> None:
    """google-auth would wait 120 s for a token endpoint; the refresh must give up at the configured bound."""

    def hang(request: Request) -> Drop:
        server.stopping.wait(10)
        return DROP

    server = LocalHttpServer(hang).start()
    try:
        started = time.monotonic()
        with pytest.raises(google.auth.exceptions.TransportError):
            TimedRequest(0.2)(f"{server.url}/token", method="POST", body=b"grant_type=refresh_token")
        assert time.monotonic() - started < 2
    finally:
        server.stop()

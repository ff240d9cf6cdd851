"""Where webhooks may not go: checked again at every delivery (a URL that passed at registration may resolve
elsewhere later), with the one SSRF implementation; and a redirect is an answer, never followed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from job_service.server import webhook_fetcher
from job_service.webhook_signing import DEV_SECRET_KEY, SecretBox, new_secret
from provider_service.fakes import FalFake
from provider_service.local_http import Request, Response
from tests.support.pipeline import StartPipeline
from tests.support.services import job_settings
from tests.support.storage import static_resolver
from tests.support.webhooks import FAST_WEBHOOKS, register, settled, webhook_receiver
from videojobs import errors


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "::1", "127.0.0.1"])
async def test_in_production_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    database_url: str, address: str
) -> None:
    settings = job_settings(
        database_url,
        environment="production",
        internal_token="a-real-internal-token-of-at-least-32-chars",
        webhook_secret_keys=Fernet.generate_key().decode(),
    )
    fetcher = webhook_fetcher(settings, static_resolver({"hooks.example.com": [address]}))
    with webhook_receiver() as receiver:
        port = receiver.server.port
        try:
            with pytest.raises(errors.InvalidArgument, match="refused"):
                await fetcher.post(f"https://hooks.example.com:{port}/hooks", {}, b"{}", body_limit=16)
        finally:
            await fetcher.client.aclose()
        assert receiver.received == []


async def test_rows_naming_forbidden_addresses_are_refused_at_every_attempt(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    """Rows written past the registration checks (or whose name now resolves elsewhere) are still refused."""
    stack = await start_stack(providers={"fal": fal_fake}, webhook_max_attempts=2, **FAST_WEBHOOKS)
    sealed = SecretBox([DEV_SECRET_KEY]).seal(new_secret())
    for url in ("https://169.254.169.254/latest/meta-data", "https://10.0.0.1/hooks"):
        stack.sql(
            "INSERT INTO webhook_endpoints (id, user_id, url, event_types, secret) "
            "VALUES (gen_random_uuid(), 'alice', %s, ARRAY['video.completed'], %s)",
            url,
            sealed,
        )
    job = (await stack.create(providers=["fal"])).job
    found = await settled(stack, job.id, 2)
    for delivery in found:
        assert delivery.state == "FAILED"
        assert [a.status_code for a in delivery.attempt_log] == [0, 0]
        assert all("refused" in a.error for a in delivery.attempt_log)


async def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    start_stack: StartPipeline, fal_fake: FalFake
) -> None:
    stack = await start_stack(providers={"fal": fal_fake}, webhook_max_attempts=2, **FAST_WEBHOOKS)
    with webhook_receiver() as target:

        def redirect(_request: Request) -> Response:
            return Response(307, b"", {"Location": target.url, "Content-Length": "0"})

        with webhook_receiver(answer=redirect) as redirecting:
            await register(stack, redirecting.url, ["video.completed"])
            job = (await stack.create(providers=["fal"])).job
            (delivery,) = await settled(stack, job.id, 1)
            assert len(redirecting.received) == 2
        assert target.received == []
    assert delivery.state == "FAILED"
    assert [a.status_code for a in delivery.attempt_log] == [307, 307]

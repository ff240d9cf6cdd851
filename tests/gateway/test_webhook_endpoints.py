"""/v1/webhooks over HTTP against a real job_service: endpoints, secrets shown once, validation and SSRF
refusals at registration, the outbox row written with the job event, and admin access over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from cryptography.fernet import Fernet

from job_service.settings import JobServiceSettings
from tests.support.gateway import Stack
from tests.support.grpc_client import metadata
from tests.support.postgres import Sql
from tests.support.services import job_service_running, job_settings, job_stub, target
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

HOOK = "http://127.0.0.1:9/hooks"  # loopback over http: accepted in development (nothing is sent here)


async def _create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/webhooks", json={"url": HOOK, "event_types": ["video.completed"], **body})


async def test_an_endpoint_lives_from_create_to_delete_and_its_secret_is_shown_once(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    created = await _create(alice, description="my app")
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["enabled"] is True
    path = f"/v1/webhooks/{endpoint['id']}"

    listed = (await alice.get("/v1/webhooks")).json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    got = (await alice.get(path)).json()
    assert "secret" not in got
    assert got["description"] == "my app"

    patched = await alice.patch(path, json={"event_types": ["video.failed", "video.state_changed"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["video.failed", "video.state_changed"]
    assert patched.json()["description"] == "my app"  # untouched
    disabled = (await alice.patch(path, json={"enabled": False})).json()
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled by its owner"
    assert (await alice.patch(path, json={"enabled": True})).json()["enabled"] is True

    rotated = await alice.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["previous_secret_expire_time"] is not None

    assert (await bob.get(path)).status_code == 404  # another user's endpoint does not exist for bob
    assert (await bob.delete(path)).status_code == 404
    assert (await bob.get("/v1/webhooks")).json()["endpoints"] == []

    assert (await alice.delete(path)).status_code == 204
    assert (await alice.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_types": ["video.exploded"]}, "event_types[0]"),
        ({"url": "ftp://127.0.0.1/hooks"}, "url"),
        ({"url": "http://8.8.8.8/hooks"}, "url"),  # plain http only to loopback
        ({"url": "https://no-such-host.invalid/hooks"}, "url"),  # must resolve
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),  # the metadata server
        ({"url": "https://10.0.0.1/hooks"}, "url"),  # private, even in development
        ({"url": "https://user:pw@127.0.0.1/hooks"}, "url"),
    ],
)
async def test_bad_endpoints_are_refused_with_the_field(
    alice: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await _create(alice, **body)
    assert response.status_code == 400, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_delivery_row_is_written_with_the_job_event_itself(
    stack: Stack, alice: httpx.AsyncClient
) -> None:
    """No worker runs here: the row comes from the create's own transaction (the outbox), not a sender."""
    await _create(alice, event_types=["video.state_changed"])
    job = (await alice.post("/v1/videos", json={"prompt": "a paper boat"})).json()
    listed = await alice.get(f"/v1/videos/{job['id']}/webhooks")
    assert listed.status_code == 200, listed.text
    (delivery,) = listed.json()["deliveries"]
    assert delivery["state"] == "PENDING"
    assert delivery["event_type"] == "video.state_changed"
    assert delivery["event_state"] == "PENDING"
    assert delivery["attempts"] == 0
    assert delivery["webhook_id"] == "msg_" + delivery["id"].replace("-", "")
    cancelled = await alice.post(f"/v1/videos/{job['id']}/cancel")
    assert cancelled.status_code == 200
    types = [
        d["event_type"] for d in (await alice.get(f"/v1/videos/{job['id']}/webhooks")).json()["deliveries"]
    ]
    assert types == ["video.cancelled", "video.state_changed"]  # newest first


async def test_an_admin_manages_any_users_endpoints_over_grpc_and_a_user_cannot(stack: Stack) -> None:
    async with job_stub(stack.jobs.port) as stub:
        request = job_service_pb2.CreateWebhookEndpointRequest(
            user_id="carol", url=HOOK, event_types=["video.completed"]
        )
        created = await stub.CreateWebhookEndpoint(request, metadata=metadata("ops", role="admin"))
        assert created.endpoint.user_id == "carol"
        listed = await stub.ListWebhookEndpoints(
            job_service_pb2.ListWebhookEndpointsRequest(), metadata=metadata("carol")
        )
        assert [e.id for e in listed.endpoints] == [created.endpoint.id]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListWebhookEndpoints(
                job_service_pb2.ListWebhookEndpointsRequest(user_id="carol"), metadata=metadata("mallory")
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "url",
    ["https://169.254.169.254/hooks", "https://10.0.0.1/hooks", "https://[::1]/hooks", "http://127.0.0.1/h"],
)
async def test_production_refuses_private_link_local_and_loopback_endpoints(
    database_url: str, url: str
) -> None:
    token = "a-real-internal-token-of-at-least-32-chars"
    settings: JobServiceSettings = job_settings(
        database_url,
        environment="production",
        internal_token=token,
        webhook_secret_keys=Fernet.generate_key().decode(),
    )
    async with (
        job_service_running(settings) as service,
        grpc.aio.insecure_channel(target(service.port)) as channel,
    ):
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        request = job_service_pb2.CreateWebhookEndpointRequest(url=url, event_types=["video.completed"])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateWebhookEndpoint(request, metadata=metadata("alice", token=token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "refused" in (refused.value.details() or "")


def test_production_refuses_the_development_secret_key(database_url: str) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET_KEYS"):
        job_settings(database_url, environment="production", internal_token="x" * 32)


async def test_a_create_may_carry_a_webhook_url_for_that_job_only(alice: httpx.AsyncClient, sql: Sql) -> None:
    secret = (await alice.get("/v1/webhook-secret")).json()["secret"]
    assert secret.startswith("whsec_")
    assert (await alice.get("/v1/webhook-secret")).json()["secret"] == secret  # the same on every read

    refused = await alice.post(
        "/v1/videos", json={"prompt": "a paper boat", "webhook_url": "https://10.0.0.1/h"}
    )
    assert refused.status_code == 400, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["webhook_url"]

    body = {"prompt": "a paper boat", "webhook_url": HOOK}
    job = (await alice.post("/v1/videos", json=body)).json()
    duplicate = await alice.post("/v1/videos", json=body)  # keyless repeat: the same job, no second hook
    assert duplicate.json()["duplicate_of"] == job["id"]
    await alice.post(f"/v1/videos/{job['id']}/cancel")
    (delivery,) = (await alice.get(f"/v1/videos/{job['id']}/webhooks")).json()["deliveries"]
    assert delivery["event_type"] == "video.cancelled"
    assert (await alice.get("/v1/webhooks")).json()["endpoints"] == []
    assert sql("SELECT count(*) FROM webhook_endpoints") == [(1,)]

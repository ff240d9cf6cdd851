"""fal webhooks through ParseWebhook: signature, key, freshness, and what the event says."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from provider_service import fal_webhook
from provider_service.fakes import FalFake
from tests.support.grpc_client import rpc_failure
from tests.support.providers import MD, StartProviderService, provider_stub, started_stub
from videojobs.v1 import common_pb2
from videojobs.v1 import provider_service_pb2 as pb

State = pb.GenerationStatus
WEBHOOK_URL = "https://api.example.com/v1/webhooks/fal"


@pytest.fixture
async def stub(start_provider_service: StartProviderService, fal_fake: FalFake) -> AsyncIterator[Any]:
    async with started_stub(start_provider_service, fal=fal_fake, fal_webhook_url=WEBHOOK_URL) as stub:
        yield stub


async def _finished_job(stub: Any, fal_fake: FalFake, outcome: str = "success") -> tuple[str, str]:
    fal_fake.script.outcome = outcome  # type: ignore[assignment]
    fal_fake.script.polls_to_finish = 0
    reply = await stub.SubmitGeneration(
        pb.SubmitGenerationRequest(provider="fal", spec=common_pb2.VideoSpec(prompt="a fox")), metadata=MD
    )
    request_id = reply.provider_job_id.split(":", 1)[1]
    fal_fake.answer_poll(fal_fake.jobs[request_id])
    return reply.provider_job_id, fal_fake.webhook_urls[request_id]


def _parse(headers: dict[str, str], body: bytes, url: str) -> pb.ParseWebhookRequest:
    return pb.ParseWebhookRequest(provider="fal", headers=headers, body=body, url=url)


async def test_valid_signature_is_accepted_and_names_our_job(stub: Any, fal_fake: FalFake) -> None:
    job_id, url = await _finished_job(stub, fal_fake)
    assert url.startswith(WEBHOOK_URL + "?app=")
    headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1])

    reply = await stub.ParseWebhook(_parse(headers, body, url), metadata=MD)

    assert reply.provider_job_id == job_id
    assert reply.status.state == State.SUCCEEDED
    assert reply.status.output_uris[0].startswith(fal_fake.url)


async def test_error_webhook_for_content_is_a_violation(stub: Any, fal_fake: FalFake) -> None:
    job_id, url = await _finished_job(stub, fal_fake, "content_violation")
    headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1])

    reply = await stub.ParseWebhook(_parse(headers, body, url), metadata=MD)

    assert reply.status.state == State.CONTENT_VIOLATION
    assert list(reply.status.violation_reasons) == [
        "violence",
        "The content was flagged by a content checker.",
    ]


async def test_tampered_body_is_unauthenticated(stub: Any, fal_fake: FalFake) -> None:
    job_id, url = await _finished_job(stub, fal_fake)
    headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1])
    tampered = body.replace(b"output.mp4", b"evil.mp4")

    failure = await rpc_failure(stub.ParseWebhook, _parse(headers, tampered, url))
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_key_is_unauthenticated(stub: Any, fal_fake: FalFake) -> None:
    job_id, url = await _finished_job(stub, fal_fake)
    request_id = job_id.split(":", 1)[1]
    headers, body = fal_fake.signed_webhook(request_id)
    stranger = Ed25519PrivateKey.generate()
    message = fal_webhook.message(
        request_id, headers[fal_webhook.USER_ID], headers[fal_webhook.TIMESTAMP], body
    )
    headers[fal_webhook.SIGNATURE] = stranger.sign(message).hex()

    failure = await rpc_failure(stub.ParseWebhook, _parse(headers, body, url))
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("skew", [-301, 301])
async def test_stale_or_future_timestamp_is_unauthenticated(stub: Any, fal_fake: FalFake, skew: int) -> None:
    job_id, url = await _finished_job(stub, fal_fake)
    headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1], timestamp=time.time() + skew)

    failure = await rpc_failure(stub.ParseWebhook, _parse(headers, body, url))
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def test_missing_signature_headers_are_unauthenticated(stub: Any, fal_fake: FalFake) -> None:
    job_id, url = await _finished_job(stub, fal_fake)
    headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1])
    del headers[fal_webhook.SIGNATURE]

    failure = await rpc_failure(stub.ParseWebhook, _parse(headers, body, url))
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def test_keys_are_read_from_a_cached_jwks_file_and_follow_its_rotation(
    start_provider_service: StartProviderService, fal_fake: FalFake, tmp_path: Any
) -> None:
    jwks = tmp_path / "fal-jwks.json"
    jwks.write_text(fal_fake.jwks)
    service = await start_provider_service(
        fal=fal_fake, fal_webhook_url=WEBHOOK_URL, fal_webhook_jwks=None, fal_webhook_jwks_file=jwks
    )
    async with provider_stub(service.port) as stub:
        job_id, url = await _finished_job(stub, fal_fake)
        headers, body = fal_fake.signed_webhook(job_id.split(":", 1)[1])
        assert (await stub.ParseWebhook(_parse(headers, body, url), metadata=MD)).provider_job_id == job_id
        jwks.write_text(fal_webhook.jwks_for([Ed25519PrivateKey.generate().public_key()]))  # keys rotated
        failure = await rpc_failure(stub.ParseWebhook, _parse(headers, body, url))
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


def test_only_the_ed25519_keys_of_a_jwks_are_used() -> None:
    ours = Ed25519PrivateKey.generate().public_key()
    fal_style = OKPAlgorithm.to_jwk(ours, as_dict=True) | {"kid": "k1", "alg": "EdDSA", "use": "sig"}
    others = [
        RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key(), as_dict=True),
        ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True),
        OKPAlgorithm.to_jwk(ed448.Ed448PrivateKey.generate().public_key(), as_dict=True),
        {"kty": "OKP", "crv": "Ed25519", "x": "not base64url!"},
        "not a key",
    ]
    keys = fal_webhook.parse_jwks(json.dumps({"keys": [*others, fal_style]}))

    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert [key.public_bytes(*raw) for key in keys] == [ours.public_bytes(*raw)]
    assert fal_webhook.parse_jwks(json.dumps({"keys": others})) == []
    assert fal_webhook.parse_jwks('{"keys": []}') == fal_webhook.parse_jwks("[]") == []


async def test_providers_without_webhooks_say_so(
    start_provider_service: StartProviderService, fal_fake: FalFake
) -> None:
    service = await start_provider_service(fal=fal_fake, runway_api_secret="k")
    async with provider_stub(service.port) as stub:
        failure = await rpc_failure(
            stub.ParseWebhook, pb.ParseWebhookRequest(provider="runway", headers={}, body=b"{}")
        )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION

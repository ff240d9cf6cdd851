"""A small ProviderService on loopback for the gateway's webhook routes.

It is a unit-level fake of our own gRPC interface (not of a provider's HTTP protocol): ParseWebhook checks an
HMAC-SHA256 of the raw body in `x-test-signature` and returns the job id and state named in the JSON body.
It records what it received, so tests can check the gateway passed headers and body through unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import grpc

from videojobs import errors
from videojobs.server import GrpcServer, create_server
from videojobs.settings import CommonSettings
from videojobs.v1 import provider_service_pb2, provider_service_pb2_grpc

SECRET = b"webhook-test-secret"
SERVICE_NAME = provider_service_pb2.DESCRIPTOR.services_by_name["ProviderService"].full_name


def sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    provider: str
    headers: dict[str, str]
    body: bytes
    request_id: str
    url: str = ""


@dataclass
class FakeProviders(provider_service_pb2_grpc.ProviderServiceServicer):
    received: list[Received] = field(default_factory=list)

    async def ParseWebhook(
        self, request: provider_service_pb2.ParseWebhookRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> provider_service_pb2.ParseWebhookResponse:
        metadata = dict(context.invocation_metadata() or ())
        self.received.append(
            Received(
                request.provider,
                dict(request.headers),
                request.body,
                str(metadata.get("x-request-id", "")),
                request.url,
            )
        )
        signature = request.headers.get("x-test-signature", "")
        if not hmac.compare_digest(signature, sign(request.body)):
            raise errors.Unauthenticated("bad webhook signature", reason="BAD_SIGNATURE")
        payload = json.loads(request.body)
        return provider_service_pb2.ParseWebhookResponse(
            provider_job_id=payload["request_id"],
            status=provider_service_pb2.GenerationStatus(
                state=provider_service_pb2.GenerationStatus.State.Value(payload["state"]),
                output_uris=payload.get("output_uris", []),
            ),
        )

    async def ListModels(
        self, request: provider_service_pb2.ListModelsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> provider_service_pb2.ListModelsResponse:
        # One model is enough for the routes' own tests; tests/gateway/test_models.py uses the real service.
        return provider_service_pb2.ListModelsResponse(
            models=[provider_service_pb2.ModelInfo(provider="sim", id="sim", modes=["text_to_video"])],
            providers=[provider_service_pb2.ProviderModels(name="sim", configured=True)],
        )

    async def _not_faked(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this fake answers webhooks and ListModels only")

    SubmitGeneration = GetGenerationStatus = AwaitGeneration = CancelGeneration = ListProviders = _not_faked


def start_fake_providers(servicer: FakeProviders) -> GrpcServer:
    """Build (not start) a gRPC server for `servicer` on a free loopback port."""
    return create_server(
        CommonSettings(),
        address="127.0.0.1:0",
        register=lambda s: provider_service_pb2_grpc.add_ProviderServiceServicer_to_server(servicer, s),
        service_names=[SERVICE_NAME],
    )

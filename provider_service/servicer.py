"""ProviderService over gRPC: convert the request, call the use cases (generations.py), convert the result."""

from __future__ import annotations

from provider_service import convert
from provider_service.generations import Generations
from videojobs.interceptors import Context
from videojobs.v1 import provider_service_pb2 as pb
from videojobs.v1 import provider_service_pb2_grpc


class ProviderServicer(provider_service_pb2_grpc.ProviderServiceServicer):
    def __init__(self, generations: Generations) -> None:
        self._generations = generations

    async def SubmitGeneration(
        self, request: pb.SubmitGenerationRequest, context: Context
    ) -> pb.SubmitGenerationResponse:
        submission = await self._generations.submit(
            request.provider,
            convert.request_from_proto(request.spec, request.idempotency_key, request.output_uri_prefix),
        )
        return convert.submission_to_proto(request.provider, submission)

    async def GetGenerationStatus(
        self, request: pb.GetGenerationStatusRequest, context: Context
    ) -> pb.GenerationStatus:
        status = await self._generations.status(request.provider, request.provider_job_id)
        return convert.status_to_proto(status)

    async def AwaitGeneration(
        self, request: pb.AwaitGenerationRequest, context: Context
    ) -> pb.AwaitGenerationResponse:
        finished = await self._generations.await_finished(
            request.provider, request.provider_job_id, request.max_wait_seconds
        )
        return pb.AwaitGenerationResponse(finished=finished)

    async def CancelGeneration(
        self, request: pb.CancelGenerationRequest, context: Context
    ) -> pb.CancelGenerationResponse:
        result = await self._generations.cancel(request.provider, request.provider_job_id)
        return convert.cancel_to_proto(result)

    async def ParseWebhook(
        self, request: pb.ParseWebhookRequest, context: Context
    ) -> pb.ParseWebhookResponse:
        event = self._generations.parse_webhook(
            request.provider, dict(request.headers), request.body, request.url
        )
        return convert.webhook_to_proto(event)

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Context
    ) -> pb.ListProvidersResponse:
        return convert.providers_to_proto(self._generations.providers())

    async def ListModels(self, request: pb.ListModelsRequest, context: Context) -> pb.ListModelsResponse:
        return convert.models_to_proto(*self._generations.models(request.provider))

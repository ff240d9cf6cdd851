"""Protos in and out of the provider_service domain (domain.py); the only module that converts them."""

from __future__ import annotations

from provider_service.domain import CancelResult, GenerationRequest, State, Status, WebhookEvent
from provider_service.registry import ProviderInfo
from videojobs.v1 import common_pb2, provider_service_pb2

_STATES = {
    State.QUEUED: provider_service_pb2.GenerationStatus.QUEUED,
    State.RUNNING: provider_service_pb2.GenerationStatus.RUNNING,
    State.SUCCEEDED: provider_service_pb2.GenerationStatus.SUCCEEDED,
    State.FAILED: provider_service_pb2.GenerationStatus.FAILED,
    State.CONTENT_VIOLATION: provider_service_pb2.GenerationStatus.CONTENT_VIOLATION,
    State.CANCELLED: provider_service_pb2.GenerationStatus.CANCELLED,
}


def request_from_proto(
    spec: common_pb2.VideoSpec, idempotency_key: str, output_uri_prefix: str
) -> GenerationRequest:
    return GenerationRequest(
        prompt=spec.prompt,
        image_uri=spec.image_uri,
        duration_seconds=spec.duration_seconds,
        aspect_ratio=spec.aspect_ratio,
        model=spec.model,
        idempotency_key=idempotency_key,
        output_uri_prefix=output_uri_prefix,
    )


def status_to_proto(status: Status) -> provider_service_pb2.GenerationStatus:
    message = provider_service_pb2.GenerationStatus(
        state=_STATES[status.state],
        output_uris=status.output_uris,
        violation_reasons=status.violation_reasons,
        queue_position=status.queue_position,
        progress=status.progress,
        output_fetch_headers=dict(status.output_fetch_headers),
    )
    if status.inline_video is not None:
        message.inline_video.CopyFrom(
            provider_service_pb2.InlineVideo(
                data=status.inline_video.data, mime_type=status.inline_video.mime_type
            )
        )
    if status.error is not None:
        message.error.CopyFrom(
            provider_service_pb2.GenerationError(
                code=status.error.code, message=status.error.message, retryable=status.error.retryable
            )
        )
    return message


def cancel_to_proto(result: CancelResult) -> provider_service_pb2.CancelGenerationResponse:
    return provider_service_pb2.CancelGenerationResponse(cancelled=result.cancelled, detail=result.detail)


def webhook_to_proto(event: WebhookEvent) -> provider_service_pb2.ParseWebhookResponse:
    return provider_service_pb2.ParseWebhookResponse(
        provider_job_id=event.provider_job_id, status=status_to_proto(event.status)
    )


def providers_to_proto(providers: list[ProviderInfo]) -> provider_service_pb2.ListProvidersResponse:
    return provider_service_pb2.ListProvidersResponse(
        providers=[
            provider_service_pb2.ProviderInfo(
                name=p.name, configured=p.configured, detail=p.detail, mode=p.mode, deprecation=p.deprecation
            )
            for p in providers
        ]
    )

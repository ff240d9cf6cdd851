"""Protos in and out of the provider_service domain (domain.py); the only module that converts them."""

from __future__ import annotations

from provider_service.adapters.base import Submission
from provider_service.catalog import ModelEntry
from provider_service.domain import CancelResult, GenerationRequest, State, Status, WebhookEvent
from provider_service.registry import ProviderInfo
from videojobs.attributes import from_attributes
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
    return from_attributes(
        GenerationRequest, spec, idempotency_key=idempotency_key, output_uri_prefix=output_uri_prefix
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


def submission_to_proto(
    provider: str, submission: Submission
) -> provider_service_pb2.SubmitGenerationResponse:
    return provider_service_pb2.SubmitGenerationResponse(
        provider_job_id=submission.provider_job_id,
        provider=provider,
        effective=submission.effective.to_proto(),
    )


def _model_to_proto(model: ModelEntry, configured: bool) -> provider_service_pb2.ModelInfo:
    limits = [
        provider_service_pb2.ModeLimits(
            mode=spec.mode,
            durations=spec.durations,
            default_duration=spec.default_duration,
            aspect_ratios=list(spec.aspect_ratios),
            wire_aspect_ratios=list(spec.aspect_ratios.values()),
            resolutions=spec.resolutions,
            max_prompt_chars=spec.max_prompt_chars or 0,
            prompt_unit=spec.prompt_unit,
            prompt_required=spec.prompt_required,
            image_forms=spec.image_forms,
            duration_wire=spec.duration_wire,
            required_fields=spec.required,
        )
        for spec in model.modes.values()
    ]
    specs = list(model.modes.values())
    # Over all modes: what any mode allows, in order. The first mode's default (text, when there is one).
    prompt_limits = [spec.max_prompt_chars for spec in specs if spec.max_prompt_chars]
    checked = {"types": str(model.checked_against["types"])} if "types" in model.checked_against else {}
    for kind in ("docs", "ours"):
        checked |= {f"{kind}.{name}": text for name, text in model.checked_against.get(kind, {}).items()}
    return provider_service_pb2.ModelInfo(
        provider=model.provider,
        id=model.id,
        title=model.title,
        modes=list(model.modes),
        durations=sorted({d for spec in specs for d in spec.durations}),
        default_duration=specs[0].default_duration,
        aspect_ratios=list(dict.fromkeys(r for spec in specs for r in spec.aspect_ratios)),
        resolutions=list(dict.fromkeys(r for spec in specs for r in spec.resolutions)),
        max_prompt_chars=min(prompt_limits) if prompt_limits else None,
        audio=True if any(spec.audio_field for spec in specs) else None,
        configured=configured,
        limits=limits,
        checked_against=checked,
    )


def models_to_proto(
    models: list[ModelEntry], providers: list[ProviderInfo]
) -> provider_service_pb2.ListModelsResponse:
    configured = {p.name: p.configured for p in providers}
    return provider_service_pb2.ListModelsResponse(
        models=[_model_to_proto(m, configured.get(m.provider, False)) for m in models],
        providers=[
            provider_service_pb2.ProviderModels(
                name=p.name,
                configured=p.configured,
                default_text_model=p.text_model,
                default_image_model=p.image_model,
                detail=p.detail,
            )
            for p in providers
        ],
    )

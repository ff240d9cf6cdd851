"""The ProviderService use cases: validate a call, pick the adapter, run it. No grpc here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from provider_service import catalog
from provider_service.adapters.base import Adapter, Submission
from provider_service.domain import CancelResult, GenerationRequest, Status, WebhookEvent
from provider_service.registry import ProviderInfo, Registry, unknown_provider
from videojobs.contract import ASPECT_RATIOS, MAX_DURATION_SECONDS, MAX_PROMPT_CHARS
from videojobs.errors import FieldViolation, InvalidArgument
from videojobs.logs import get_logger

log = get_logger(__name__)

MAX_WEBHOOK_BODY = 1_000_000
# The longest AwaitGeneration: a caller that wants to follow a job longer calls again.
MAX_AWAIT_SECONDS = 300.0


def validate_request(provider: str, request: GenerationRequest) -> GenerationRequest:
    """The spec as the providers get it (aspect ratio defaulted); every problem reported at once, before
    whether the provider is configured (bad input is INVALID_ARGUMENT whatever the deployment)."""
    problems: list[FieldViolation] = []
    if (unknown := unknown_provider(provider)) is not None:
        problems.append(unknown)
    if not request.prompt.strip() and not request.image_uri:
        problems.append(FieldViolation("spec.prompt", "is required unless spec.image_uri is set"))
    if len(request.prompt) > MAX_PROMPT_CHARS:
        problems.append(FieldViolation("spec.prompt", f"must be at most {MAX_PROMPT_CHARS} characters"))
    if request.image_uri and not request.image_uri.startswith(("https://", "gs://")):
        problems.append(FieldViolation("spec.image_uri", "must be an https:// or gs:// URI"))
    if not 0 <= request.duration_seconds <= MAX_DURATION_SECONDS:
        problems.append(
            FieldViolation("spec.duration_seconds", f"must be between 0 and {MAX_DURATION_SECONDS}")
        )
    if request.aspect_ratio and request.aspect_ratio not in ASPECT_RATIOS:
        problems.append(FieldViolation("spec.aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}"))
    if request.output_uri_prefix and not request.output_uri_prefix.startswith("gs://"):
        problems.append(FieldViolation("output_uri_prefix", "must be a gs:// folder"))
    if len(request.idempotency_key) > 200:
        problems.append(FieldViolation("idempotency_key", "must be at most 200 characters"))
    if problems:
        raise InvalidArgument(problems)
    if not request.aspect_ratio:
        return replace(request, aspect_ratio="16:9")
    return request


class Generations:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def submit(self, provider: str, request: GenerationRequest) -> Submission:
        validated = validate_request(provider, request)
        submission = await self.registry.get(provider).submit(validated)
        log.info(
            "generation submitted",
            provider=provider,
            provider_job_id=submission.provider_job_id,
            model=submission.effective.model,
            parameters=dict(submission.effective.parameters),
        )
        return submission

    def _adapter_for_job(self, provider: str, provider_job_id: str) -> Adapter:
        adapter = self.registry.get(provider)
        if not provider_job_id.strip():
            raise InvalidArgument.field("provider_job_id", "is required")
        return adapter

    async def status(self, provider: str, provider_job_id: str) -> Status:
        status = await self._adapter_for_job(provider, provider_job_id).status(provider_job_id)
        log.debug(
            "generation polled", provider=provider, provider_job_id=provider_job_id, state=status.state.value
        )
        return status

    async def await_finished(self, provider: str, provider_job_id: str, max_wait: float) -> bool:
        """Whether the provider reported the job finished within `max_wait` seconds (its status stream)."""
        problems: list[FieldViolation] = []
        if (unknown := unknown_provider(provider)) is not None:
            problems.append(unknown)
        if not provider_job_id.strip():
            problems.append(FieldViolation("provider_job_id", "is required"))
        if not 0 < max_wait <= MAX_AWAIT_SECONDS:  # NaN fails too
            problems.append(
                FieldViolation("max_wait_seconds", f"must be more than 0 and at most {MAX_AWAIT_SECONDS:g}")
            )
        if problems:
            raise InvalidArgument(problems)
        finished = await self.registry.get(provider).await_finished(provider_job_id, max_wait)
        log.debug("generation awaited", provider=provider, provider_job_id=provider_job_id, finished=finished)
        return finished

    async def cancel(self, provider: str, provider_job_id: str) -> CancelResult:
        result = await self._adapter_for_job(provider, provider_job_id).cancel(provider_job_id)
        log.info(
            "generation cancel",
            provider=provider,
            provider_job_id=provider_job_id,
            cancelled=result.cancelled,
        )
        return result

    def parse_webhook(self, provider: str, headers: Mapping[str, str], body: bytes, url: str) -> WebhookEvent:
        adapter = self.registry.get(provider)
        if not body:
            raise InvalidArgument.field("body", "is required")
        if len(body) > MAX_WEBHOOK_BODY:
            raise InvalidArgument.field("body", f"must be at most {MAX_WEBHOOK_BODY} bytes")
        return adapter.parse_webhook(headers, body, url)

    def providers(self) -> list[ProviderInfo]:
        return self.registry.describe()

    def models(self, provider: str = "") -> tuple[list[catalog.ModelEntry], list[ProviderInfo]]:
        """The catalog (one provider's part when named) and the providers' state and default models."""
        if provider and (unknown := unknown_provider(provider)) is not None:
            raise InvalidArgument([unknown])
        providers = [p for p in self.registry.describe() if not provider or p.name == provider]
        names = {p.name for p in providers}
        return [m for m in self.registry.catalog.models if m.provider in names], providers

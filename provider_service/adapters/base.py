"""The interface every provider adapter implements, and what they share."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from provider_service import catalog
from provider_service.calls import ProviderHttp
from provider_service.catalog import mapping
from provider_service.catalog.mapping import Mapped
from provider_service.domain import CancelResult, GenerationRequest, State, Status, WebhookEvent
from videojobs import errors
from videojobs.effective import EffectiveSpec
from videojobs.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Submission:
    provider_job_id: str
    effective: EffectiveSpec


class Adapter(abc.ABC):
    """Submit, poll, cancel and (where the provider sends them) parse webhooks; stateless per call.

    Errors are `videojobs.errors`: UNAVAILABLE for transient trouble (see calls.py for the retry rules),
    FAILED_PRECONDITION for what this provider cannot do or refuses for good, NOT_FOUND for unknown jobs.
    """

    name: ClassVar[str]

    def __init__(
        self,
        http: ProviderHttp,
        *,
        text_model: str,
        image_model: str,
        models: catalog.Catalog | None = None,
    ) -> None:
        self.http = http
        self.text_model = text_model
        self.image_model = image_model
        self.catalog = models or catalog.load()

    def plan(self, request: GenerationRequest) -> Mapped:
        """The request mapped onto its model (see catalog/mapping.py), or UNSUPPORTED_SPEC."""
        model_id = request.model or (self.image_model if request.image_uri else self.text_model)
        model, spec = mapping.choose(self.catalog, self.name, model_id, has_image=bool(request.image_uri))
        return mapping.map_spec(
            self.name,
            model,
            spec,
            prompt=request.prompt,
            duration_seconds=request.duration_seconds,
            aspect_ratio=request.aspect_ratio,
        )

    @abc.abstractmethod
    async def submit(self, request: GenerationRequest) -> Submission:
        """Start a generation; returns the provider job id and what the provider was asked for."""

    @abc.abstractmethod
    async def status(self, job_id: str) -> Status:
        """One poll, mapped to the common states."""

    @abc.abstractmethod
    async def cancel(self, job_id: str) -> CancelResult:
        """Best effort."""

    async def await_finished(self, job_id: str, max_wait: float) -> bool:
        """Follow the provider's status stream until it reports the job finished (True) or `max_wait`
        seconds pass (False). UNAVAILABLE when the stream fails or ends early: the caller polls instead."""
        raise errors.FailedPrecondition(
            f"{self.name} has no status stream",
            reason="STATUS_STREAM_NOT_SUPPORTED",
            metadata={"provider": self.name},
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, url: str) -> WebhookEvent:
        raise errors.FailedPrecondition(
            f"{self.name} does not send webhooks",
            reason="WEBHOOKS_NOT_SUPPORTED",
            metadata={"provider": self.name},
        )

    async def aclose(self) -> None:
        await self.http.client.aclose()


def unsupported(provider: str, field: str, why: str) -> errors.FailedPrecondition:
    """A valid spec this provider cannot run: the orchestrator may try the next provider."""
    return mapping.unsupported(provider, [errors.FieldViolation(field, why)])


def unknown_status(provider: str, status: object) -> Status:
    """A status the provider's documentation does not list. Most likely a new intermediate one: keep polling
    (the orchestrator bounds a job's total time) rather than fail or double-submit."""
    log.warning("unknown provider status; treated as running", provider=provider, status=str(status)[:50])
    return Status(State.RUNNING)


def bad_job_id(job_id: str, provider: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.field("provider_job_id", f"{job_id[:100]!r} is not a {provider} job id")

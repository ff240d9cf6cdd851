"""The interface every provider adapter implements, and what they share."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar

from provider_service.calls import ProviderHttp
from provider_service.domain import CancelResult, GenerationRequest, Status, WebhookEvent
from videojobs import errors
from videojobs.contract import Reason


class Adapter(abc.ABC):
    """Submit, poll, cancel and (where the provider sends them) parse webhooks; stateless per call.

    Errors are `videojobs.errors`: UNAVAILABLE for transient trouble (see calls.py for the retry rules),
    FAILED_PRECONDITION for what this provider cannot do or refuses for good, NOT_FOUND for unknown jobs.
    """

    name: ClassVar[str]

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    @abc.abstractmethod
    async def submit(self, request: GenerationRequest) -> str:
        """Start a generation; returns the provider job id."""

    @abc.abstractmethod
    async def status(self, job_id: str) -> Status:
        """One poll, mapped to the common states."""

    @abc.abstractmethod
    async def cancel(self, job_id: str) -> CancelResult:
        """Best effort."""

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
    return errors.FailedPrecondition(
        f"{provider} cannot run this spec: {field} {why}",
        reason=Reason.UNSUPPORTED_SPEC,
        metadata={"provider": provider, "field": field},
    )


def bad_job_id(job_id: str, provider: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.field("provider_job_id", f"{job_id[:100]!r} is not a {provider} job id")

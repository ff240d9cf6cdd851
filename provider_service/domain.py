"""What provider_service speaks internally: a generation request, its status, a cancel result, a webhook.

Plain dataclasses; `convert.py` turns them into and out of protos at the gRPC edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from videojobs.contract import TERMINAL_GENERATION_STATES, GenerationState

State = GenerationState  # the contract's generation states


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    image_uri: str = ""
    duration_seconds: int = 0
    aspect_ratio: str = "16:9"
    model: str = ""
    idempotency_key: str = ""
    output_uri_prefix: str = ""


@dataclass(frozen=True)
class GenerationError:
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class InlineVideo:
    """A video the provider returned in its answer instead of at a URI."""

    data: bytes = field(repr=False)
    mime_type: str = ""


@dataclass(frozen=True)
class Status:
    state: State
    output_uris: tuple[str, ...] = ()
    error: GenerationError | None = None
    violation_reasons: tuple[str, ...] = ()
    queue_position: int = 0
    progress: float = 0.0
    # Secret (e.g. the Gemini API key): kept out of repr so a logged Status never shows it.
    output_fetch_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    inline_video: InlineVideo | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_GENERATION_STATES


@dataclass(frozen=True)
class CancelResult:
    cancelled: bool
    detail: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    provider_job_id: str
    status: Status


def failed(code: str, message: str, *, retryable: bool) -> Status:
    return Status(State.FAILED, error=GenerationError(code, message, retryable))


def content_violation(reasons: tuple[str, ...], message: str, code: str = "CONTENT_VIOLATION") -> Status:
    return Status(
        State.CONTENT_VIOLATION,
        error=GenerationError(code, message, retryable=False),
        violation_reasons=reasons,
    )

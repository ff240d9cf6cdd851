"""The constants of the API contract (docs/api.md), in one place for every service.

Names and values here are part of the contract: clients, the gateway and the other services rely on them.
Add, never rename or drop.
"""

from __future__ import annotations

import enum


class Provider(enum.StrEnum):
    """The providers a spec may name, in the order the contract lists them."""

    VEO = "veo"
    FAL = "fal"
    RUNWAY = "runway"
    SIM = "sim"


PROVIDERS: tuple[str, ...] = tuple(Provider)

ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1")
DEFAULT_ASPECT_RATIO = "16:9"
MAX_PROMPT_CHARS = 2000
MAX_DURATION_SECONDS = 60  # 0 means "the provider's default"
# The largest video passed inside gRPC messages (GenerationStatus.inline_video, UploadVideo); see
# videojobs.message_limits for why 32 MiB and which links accept it.
INLINE_VIDEO_MAX_BYTES = 32 * 1024 * 1024

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class JobState(enum.StrEnum):
    PENDING = "PENDING"
    SUBMITTING = "SUBMITTING"
    PROCESSING = "PROCESSING"
    FINALIZING = "FINALIZING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CONTENT_VIOLATION = "CONTENT_VIOLATION"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


TERMINAL_JOB_STATES = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CONTENT_VIOLATION, JobState.CANCELLED}
)
ACTIVE_JOB_STATES = frozenset(set(JobState) - TERMINAL_JOB_STATES)


class GenerationState(enum.StrEnum):
    """A provider job's state as provider_service reports it (GenerationStatus.state)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CONTENT_VIOLATION = "CONTENT_VIOLATION"
    CANCELLED = "CANCELLED"


TERMINAL_GENERATION_STATES = frozenset(
    {
        GenerationState.SUCCEEDED,
        GenerationState.FAILED,
        GenerationState.CONTENT_VIOLATION,
        GenerationState.CANCELLED,
    }
)


class Reason(enum.StrEnum):
    """ErrorInfo reasons that one service sets and another (or a client) acts on."""

    # provider_service -> job_service
    SUBMIT_OUTCOME_UNKNOWN = "SUBMIT_OUTCOME_UNKNOWN"  # the provider may have the job: never resubmit blindly
    UNSUPPORTED_SPEC = "UNSUPPORTED_SPEC"  # this provider cannot honour the spec: try the next one
    CONTENT_VIOLATION = "CONTENT_VIOLATION"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    # The provider answered 429: our rate or concurrency there is too high (not this request's fault).
    PROVIDER_THROTTLED = "PROVIDER_THROTTLED"
    # storage_service -> job_service
    NOT_A_VIDEO = "NOT_A_VIDEO"
    OUTPUT_NOT_FOUND = "OUTPUT_NOT_FOUND"
    # job_service's own calls: provider_service or storage_service did not answer at all (refused, died
    # mid-call, timed out). Our outage, never counted as the provider's failure.
    PEER_UNAVAILABLE = "PEER_UNAVAILABLE"
    # job_service -> clients
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    DAILY_QUOTA_EXCEEDED = "DAILY_QUOTA_EXCEEDED"
    ACTIVE_JOBS_LIMIT = "ACTIVE_JOBS_LIMIT"


class WebhookEventType(enum.StrEnum):
    """The events outbound webhooks announce (Standard Webhooks `type`). A terminal state has its own type;
    STATE_CHANGED subscribes to every state change (terminal ones still arrive under their own type)."""

    COMPLETED = "video.completed"
    FAILED = "video.failed"
    CONTENT_VIOLATION = "video.content_violation"
    CANCELLED = "video.cancelled"
    STATE_CHANGED = "video.state_changed"


class WebhookDeliveryState(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"

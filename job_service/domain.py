"""Jobs, specs, quotas and what the other services report, as plain values. No gRPC, no SQL."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from videojobs.contract import JobState as JobState  # the contract's states, re-exported for job_service
from videojobs.effective import EffectiveSpec
from videojobs.video_info import VideoInfo as VideoInfo  # re-exported for job_service


@dataclass(frozen=True)
class VideoSpec:
    prompt: str = ""
    image_uri: str = ""
    duration_seconds: int = 0
    aspect_ratio: str = ""
    model: str = ""
    providers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["providers"] = list(self.providers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoSpec:
        return cls(**{**data, "providers": tuple(data.get("providers", ()))})


@dataclass(frozen=True)
class Submitted:
    """A provider's answer to a submission."""

    provider_job_id: str
    effective: EffectiveSpec | None


@dataclass(frozen=True)
class ListedObject:
    """An object in the bucket as StorageService.ListObjects reports it."""

    uri: str
    name: str
    update_time: datetime | None


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    retryable: bool = False
    violation_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    user_id: str
    client_request_id: str | None
    spec: VideoSpec
    state: JobState
    attempt: int
    create_time: datetime
    update_time: datetime
    provider: str | None = None
    provider_job_id: str | None = None
    video_uri: str | None = None
    thumbnail_uri: str | None = None
    video: VideoInfo | None = None
    error: JobError | None = None
    effective: EffectiveSpec | None = None
    end_time: datetime | None = None
    # The service of ours the current step waits for (e.g. "storage_service"), while it is out of reach.
    waiting_for: str | None = None
    # Signed on read (never stored): short-lived download links for video_uri / thumbnail_uri.
    video_url: str = ""
    thumbnail_url: str = ""
    urls_expire_time: datetime | None = None
    # A completed job whose links could not be signed in time (storage_service out of reach).
    urls_unavailable: bool = False
    # GetJob's reason a PENDING job is held back by a provider limit ("waiting for a runway slot, 3 ahead").
    queue_reason: str = ""


@dataclass(frozen=True)
class NewJob:
    """A validated request to create a job; what JobQueries.create_job inserts."""

    id: uuid.UUID
    user_id: str
    client_request_id: str | None
    spec: VideoSpec
    quota_day: date
    # Without a key: make the job even if an unfinished or recent one has the same spec.
    allow_duplicate: bool = False


class CreateReason(enum.StrEnum):
    """Why create_job() returned the job it did (its `outcome` column, less the refusals)."""

    CREATED = "created"
    # The same client_request_id was used before.
    REPLAYED = "replayed"
    # No key, and an unfinished or recent job of the user has the same spec fingerprint.
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class CreateOutcome:
    job: Job
    reason: CreateReason

    @property
    def created(self) -> bool:
        return self.reason is CreateReason.CREATED


@dataclass(frozen=True)
class Limits:
    daily_limit: int
    max_active: int


@dataclass(frozen=True)
class Quota:
    user_id: str
    daily_limit: int
    used_today: int
    max_active: int
    active: int
    resets_at: datetime

    @property
    def remaining_today(self) -> int:
        return max(self.daily_limit - self.used_today, 0)


@dataclass(frozen=True)
class Cursor:
    """Keyset position in the newest-first listing."""

    create_time: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Page:
    jobs: list[Job] = field(default_factory=list)
    next_page_token: str = ""


@dataclass(frozen=True)
class JobFilter:
    """What an admin listing keeps: every field None or empty means "any"."""

    user_id: str | None = None
    states: frozenset[JobState] = frozenset()
    provider: str | None = None
    since: datetime | None = None

    def scope(self) -> str:
        """The filter beyond the states, for binding a page token to it."""
        since = self.since.isoformat() if self.since else ""
        return f"user={self.user_id or ''};provider={self.provider or ''};since={since}"


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed (never the key itself: only its hash is stored)."""

    id: uuid.UUID
    user_id: str
    role: str
    prefix: str
    create_time: datetime
    revoke_time: datetime | None = None


@dataclass(frozen=True)
class KeyPage:
    keys: list[ApiKey] = field(default_factory=list)
    next_page_token: str = ""


@dataclass(frozen=True)
class JobEvent:
    """One row of a job's history; `sequence` increases with every event of the job."""

    sequence: int
    job_id: uuid.UUID
    type: str
    state: JobState
    message: str
    create_time: datetime
    job: Job


@dataclass(frozen=True)
class ProviderStatus:
    """GenerationStatus as the orchestrator sees it (state names as in the proto enum)."""

    state: str
    output_uris: tuple[str, ...] = ()
    error_code: str = ""
    error_message: str = ""
    retryable: bool = False
    violation_reasons: tuple[str, ...] = ()
    # Secret (e.g. an API key): used for one download, never stored or logged.
    fetch_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # A video returned in the answer itself (stored with StorageClient.upload_video, never in the database).
    inline_video: bytes = field(default=b"", repr=False)
    inline_mime_type: str = ""

    def to_json(self) -> dict[str, object]:
        """What may be stored: everything but the fetch headers, which only say whether they were needed."""
        return {
            "state": self.state,
            "output_uris": list(self.output_uris),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "retryable": self.retryable,
            "violation_reasons": list(self.violation_reasons),
            "needs_fetch_headers": bool(self.fetch_headers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProviderStatus:
        return cls(
            state=str(data["state"]),
            output_uris=tuple(data.get("output_uris") or ()),  # type: ignore[arg-type]
            error_code=str(data.get("error_code", "")),
            error_message=str(data.get("error_message", "")),
            retryable=bool(data.get("retryable", False)),
            violation_reasons=tuple(data.get("violation_reasons") or ()),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class StoredObject:
    """An object storage_service wrote or found."""

    uri: str
    size_bytes: int = 0
    content_type: str = ""
    reused: bool = False
    other_candidates: tuple[str, ...] = ()


# --- outbound webhooks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEndpoint:
    """A user's registered receiver. No secrets here: they are decrypted only to sign (and shown once)."""

    id: uuid.UUID
    user_id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    create_time: datetime
    update_time: datetime
    failing_since: datetime | None = None
    disabled_time: datetime | None = None
    disabled_reason: str = ""
    # Until then, deliveries are also signed with the secret before the last rotation.
    previous_secret_expire_time: datetime | None = None
    # Set for a create's one-off webhook_url: it gets only that job's events.
    job_id: uuid.UUID | None = None


@dataclass(frozen=True)
class WebhookEndpointPatch:
    """An update: None leaves a field as it is; enabled=True re-enables a disabled endpoint."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class WebhookAttempt:
    attempt: int
    time: datetime
    status_code: int | None
    error: str
    latency_seconds: float
    next_retry_time: datetime | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One event for one endpoint; `id` is its webhook-id (as `msg_<hex>`), the same on every attempt."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    job_id: uuid.UUID
    sequence: int
    event_type: str
    event_state: JobState
    state: str
    attempts: int
    next_attempt_time: datetime | None
    last_status_code: int | None
    last_error: str
    create_time: datetime
    end_time: datetime | None
    attempt_log: tuple[WebhookAttempt, ...] = ()

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.id)


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"

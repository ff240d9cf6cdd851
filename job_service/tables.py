"""The Postgres schema as SQLAlchemy tables, and a jobs row read back as a Job. Migrations in `migrations/`
must produce exactly this schema; the SQL itself is in the *_queries.py modules."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from job_service.domain import Job, JobError, JobState, VideoInfo, VideoSpec
from videojobs.contract import ACTIVE_JOB_STATES
from videojobs.effective import EffectiveSpec

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_STATES_SQL = ", ".join(f"'{state.value}'" for state in JobState)
ACTIVE_STATES_SQL = ", ".join(f"'{state.value}'" for state in sorted(ACTIVE_JOB_STATES))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    client_request_id: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("4"))
    provider: Mapped[str | None] = mapped_column(Text)
    provider_job_id: Mapped[str | None] = mapped_column(Text)
    video_uri: Mapped[str | None] = mapped_column(Text)
    thumbnail_uri: Mapped[str | None] = mapped_column(Text)
    video: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The UTC day whose quota unit this job took, so a refund goes back to the same day.
    quota_day: Mapped[date] = mapped_column(Date)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Maintained by the jobs_touch_update_time trigger, so no code path can forget it.
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Orchestration. A job is due for its next step at due_time (NULL once terminal); a worker holds it
    # until locked_until, and only the holder of lease_token may apply the step it claimed.
    due_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Which entry of spec.providers this attempt is on (fallback moves it forward).
    provider_index: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Consecutive transient failures of the current step, for backoff and its bound.
    step_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Submissions whose outcome was unknown (the provider may have a job we never heard of).
    unknown_submits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    poll_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Runs of the current provider started again after it reported a retryable failure.
    provider_retries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Which of our own services the current step waits for ("provider_service", "storage_service"; NULL when
    # none), and how many times in a row it was found out of reach: the backoff of that wait. Never counted
    # in step_attempts: our outage is not the provider's failure.
    waiting_for: Mapped[str | None] = mapped_column(Text)
    peer_waits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # When the job entered its current state (the jobs_touch_state_time trigger keeps it; metrics read it).
    state_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # What the provider reported on success (output URIs), kept for FINALIZING.
    provider_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The latest status a webhook reported, consumed by the next PROCESSING step instead of a poll.
    provider_news: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # What the provider of the latest submission was asked for (the spec mapped onto its model); cleared when
    # the next submission starts. Each submission's is also in its job_events row.
    effective: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # When the current attempt started; the job deadline counts from here.
    attempt_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # What makes two requests the same video (the SQL function spec_fingerprint(), migration 0006): a create
    # without a key returns the user's unfinished or recent job with the same fingerprint.
    spec_fingerprint: Mapped[str | None] = mapped_column(
        Text, Computed("spec_fingerprint(spec)", persisted=True)
    )
    # The create asked for a new job even if it duplicates another; the duplicate clean-up leaves it alone.
    allow_duplicate: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # A COMPLETED job whose thumbnail could not be made: background tries so far (bounded) and the last error.
    thumbnail_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    thumbnail_error: Mapped[str | None] = mapped_column(Text)
    # Since when this PENDING job has been held back because its provider is at a limit (limit_queries.py);
    # cleared when a worker claims it.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when this job's submissions have been answered 429 (cleared once one is accepted or on fallback);
    # a 429 spends no step attempt until `max_throttled_seconds` have passed.
    throttled_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"state IN ({_STATES_SQL})", name="state"),
        CheckConstraint("attempt >= 1", name="attempt"),
        # The idempotency guarantee: one job per (user, client_request_id).
        Index(
            "uq_jobs_user_id_client_request_id",
            "user_id",
            "client_request_id",
            unique=True,
            postgresql_where=text("client_request_id IS NOT NULL"),
        ),
        # ListJobs: newest first, keyset paging on (create_time, id).
        Index(
            "ix_jobs_user_id_create_time_id",
            "user_id",
            text("create_time DESC"),
            text("id DESC"),
            postgresql_where=text("deleted_time IS NULL"),
        ),
        # The admin listing (every user's jobs): newest first, keyset paging on (create_time, id).
        Index(
            "ix_jobs_create_time_id",
            text("create_time DESC"),
            text("id DESC"),
            postgresql_where=text("deleted_time IS NULL"),
        ),
        # The active-job limit counts these.
        Index("ix_jobs_user_id_active", "user_id", postgresql_where=text(f"state IN ({ACTIVE_STATES_SQL})")),
        # Workers claim due jobs in due order.
        Index("ix_jobs_due_time", "due_time", postgresql_where=text("due_time IS NOT NULL")),
        # Steps of started jobs are claimed apart from submissions: jobs waiting for a provider slot stay due
        # (and oldest), and this claim must not wade through them.
        Index(
            "ix_jobs_due_time_started",
            "due_time",
            postgresql_where=text("due_time IS NOT NULL AND state <> 'PENDING'"),
        ),
        # Duplicate lookups: a create without a key, and the clean-up's scan.
        Index(
            "ix_jobs_user_id_spec_fingerprint_create_time",
            "user_id",
            "spec_fingerprint",
            text("create_time DESC"),
            postgresql_where=text("deleted_time IS NULL"),
        ),
        # The thumbnail backfill's scan: completed jobs with a video and no thumbnail, oldest first.
        Index(
            "ix_jobs_missing_thumbnail",
            "end_time",
            "id",
            postgresql_where=text(
                "state = 'COMPLETED' AND thumbnail_uri IS NULL AND video_uri IS NOT NULL "
                "AND deleted_time IS NULL"
            ),
        ),
        # Webhooks find their job by the provider's id.
        Index(
            "ix_jobs_provider_provider_job_id",
            "provider",
            "provider_job_id",
            postgresql_where=text("provider_job_id IS NOT NULL"),
        ),
    )


class JobEventRow(Base):
    __tablename__ = "job_events"

    # A global sequence: increasing per job too, so it doubles as the event cursor for watchers.
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, server_default=text("''"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_job_events_job_id_id", "job_id", "id"),
        # The 429s of the last hour per provider (`videojobs admin queue`, limit_queries.QUEUE_TIMES).
        Index(
            "ix_job_events_throttled_provider_create_time",
            text("(detail ->> 'provider')"),
            "create_time",
            postgresql_where=text("type = 'throttled'"),
        ),
    )


class QuotaUsageRow(Base):
    __tablename__ = "quota_usage"

    user_id: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("used >= 0", name="used"),)


class ProviderSubmitRow(Base):
    """Submissions claimed per provider and model, for the submits-per-minute limits. Rows older than the
    limits' window are deleted by the next claim."""

    __tablename__ = "provider_submits"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text, server_default=text("''"))
    submit_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The job claimed for this submission: a 429 to it takes it out of the count (the provider refused it).
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (Index("ix_provider_submits_provider_submit_time", "provider", "submit_time"),)


class ProviderBackoffRow(Base):
    """A provider that answered 429 gets no submissions from any replica until not_before, then, for one
    limits window after the 429, at most one every `spacing_seconds` (the wait the 429 asked for); and
    never more than `learned_rate` a window (what it accepted in the window of its last 429), which rises by
    one after `probe_windows` windows without a 429."""

    __tablename__ = "provider_backoff"

    provider: Mapped[str] = mapped_column(Text, primary_key=True)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    throttles: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    spacing_seconds: Mapped[float] = mapped_column(Float)
    last_throttle: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_submit: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    learned_rate: Mapped[int | None] = mapped_column(Integer)
    # When learned_rate last changed (a 429, or a step up).
    rate_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Quiet windows before the next step up: halved after a step up that met no 429, doubled after one that
    # met a 429 within a window.
    probe_windows: Mapped[int] = mapped_column(Integer, server_default=text("4"))


class GenerationTimeRow(Base):
    """How long a provider took per generation (accepted to finished, as polled), for the poll schedule."""

    __tablename__ = "generation_times"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text, server_default=text("''"))
    seconds: Mapped[float] = mapped_column(Float)
    finish_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_generation_times_provider_model_finish_time", "provider", "model", "finish_time"),
    )


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the key: keys are 256-bit random, so a slow hash would add latency and no safety.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, to tell keys apart in listings without storing them.
    prefix: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role"),)


class WebhookEndpointRow(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    # The signing secret, encrypted (Fernet, VIDEOJOBS_WEBHOOK_SECRET_KEYS): signing needs the secret itself.
    secret: Mapped[str] = mapped_column(Text)
    # The secret before the last rotation, still signing beside the new one until its expire time.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expire_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the current run of failed attempts began (NULL after a success); too long a run disables it.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    # Set for a create's one-off webhook_url: this job's events only. No foreign key: the row is written
    # before the job (migration 0008 says why).
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        Index("ix_webhook_endpoints_user_id_create_time", "user_id", "create_time"),
        Index("ix_webhook_endpoints_job_id", "job_id", postgresql_where=text("job_id IS NOT NULL")),
    )


class WebhookSigningSecretRow(Base):
    """A user's own signing secret, for the one-off webhook_url of their creates (encrypted like the rest)."""

    __tablename__ = "webhook_signing_secrets"

    user_id: Mapped[str] = mapped_column(Text, primary_key=True)
    secret: Mapped[str] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDeliveryRow(Base):
    """The outbox: one row per (endpoint, job event), written by the job_events_webhooks trigger in the
    transaction that writes the event (migration 0008). Its id is the webhook-id receivers deduplicate by."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"))
    # The job_events row announced: its id is the event's sequence.
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(Text)
    event_state: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Like jobs: due at due_time (NULL once finished), held by one sender until locked_until.
    due_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=func.now())
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, server_default=text("''"))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("state IN ('PENDING', 'DELIVERED', 'FAILED')", name="state"),
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due_time", "due_time", postgresql_where=text("due_time IS NOT NULL")),
        Index("ix_webhook_deliveries_job_id_event_id", "job_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint_id_create_time", "endpoint_id", "create_time"),
    )


class WebhookAttemptRow(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, server_default=text("''"))
    latency_seconds: Mapped[float] = mapped_column(Float)
    next_retry_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)


jobs = cast(Table, JobRow.__table__)
job_events = cast(Table, JobEventRow.__table__)
quota_usage = cast(Table, QuotaUsageRow.__table__)
api_keys = cast(Table, ApiKeyRow.__table__)
webhook_endpoints = cast(Table, WebhookEndpointRow.__table__)
webhook_deliveries = cast(Table, WebhookDeliveryRow.__table__)
webhook_attempts = cast(Table, WebhookAttemptRow.__table__)
webhook_signing_secrets = cast(Table, WebhookSigningSecretRow.__table__)
provider_submits = cast(Table, ProviderSubmitRow.__table__)
provider_backoff = cast(Table, ProviderBackoffRow.__table__)
generation_times = cast(Table, GenerationTimeRow.__table__)


def job_from_row(row: Any) -> Job:
    error = row.error
    video = row.video
    return Job(
        id=row.id,
        user_id=row.user_id,
        client_request_id=row.client_request_id,
        spec=VideoSpec.from_json(row.spec),
        state=JobState(row.state),
        attempt=row.attempt,
        provider=row.provider,
        provider_job_id=row.provider_job_id,
        video_uri=row.video_uri,
        thumbnail_uri=row.thumbnail_uri,
        video=VideoInfo(**video) if video else None,
        error=JobError(**{**error, "violation_reasons": tuple(error.get("violation_reasons", ()))})
        if error
        else None,
        effective=EffectiveSpec.from_json(row.effective) if row.effective else None,
        create_time=row.create_time,
        update_time=row.update_time,
        end_time=row.end_time,
        waiting_for=None if JobState(row.state).terminal else row.waiting_for,
    )

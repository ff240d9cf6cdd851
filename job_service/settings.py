"""job_service settings (environment variables, prefix VIDEOJOBS_ unless noted)."""

from __future__ import annotations

import re
from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from job_service.webhook_signing import DEV_SECRET_KEY
from videojobs.contract import PROVIDERS
from videojobs.settings import CommonSettings

_SCOPE = re.compile(r"^([a-z]+)(?:/([\w.:/-]{1,200}))?$")


class ProviderLimitSetting(BaseModel):
    """One entry of VIDEOJOBS_LIMITS; an unset field does not limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_in_flight: int | None = Field(
        default=None, ge=1, description="Jobs submitted and not finished there."
    )
    submits_per_minute: int | None = Field(default=None, ge=1, description="Submissions per minute there.")
    max_queue_seconds: float | None = Field(
        default=None, ge=0, description="Opt-in: a job held back longer moves on to its next provider."
    )


# What the providers' entry tiers allow (README, "Provider limits"): Vertex Veo about 10 requests a minute per
# project and model; Runway a few tasks at once (more are queued as THROTTLED); fal 10 concurrent requests.
DEFAULT_LIMITS: dict[str, ProviderLimitSetting] = {
    "veo": ProviderLimitSetting(submits_per_minute=10),
    "runway": ProviderLimitSetting(max_in_flight=2),
    "fal": ProviderLimitSetting(max_in_flight=10),
}


class JobServiceSettings(CommonSettings):
    job_host: str = "127.0.0.1"
    job_port: int = Field(default=50051, ge=0, le=65535)
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "VIDEOJOBS_DATABASE_URL"),
        description="postgresql:// URL; unset starts an embedded Postgres under data_dir.",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_statement_timeout_ms: int = Field(default=10_000, ge=100)
    migrate_on_start: bool = Field(
        default=True,
        description="Migrate at start-up; false waits for a current schema (a migration job migrates).",
    )
    daily_limit: int = Field(default=50, ge=0, description="Jobs a user may create per UTC day.")
    max_active: int = Field(default=5, ge=1, description="Non-terminal jobs a user may have at once.")
    active_limit_retry_seconds: float = Field(default=15.0, gt=0)
    dedupe_window_seconds: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 3600,
        description="A create without a key returns the user's job with the same spec if it is unfinished "
        "or was created this recently (0: unfinished jobs only).",
    )
    default_providers: tuple[str, ...] = ("sim",)

    # The other services job_service calls.
    provider_target: str = "127.0.0.1:50052"
    storage_target: str = "127.0.0.1:50053"
    bucket: str = Field(default="videojobs-dev", description="Bucket the storage service writes to.")
    image_buckets: tuple[str, ...] = Field(
        default=(), description="Buckets a spec's gs:// image may name (none by default: https only)."
    )
    rpc_timeout_seconds: float = Field(default=30.0, gt=0, description="Deadline of each call to them.")
    # Relocating a large video streams it; give that call longer than a status poll.
    finalize_rpc_timeout_seconds: float = Field(default=300.0, gt=0)
    url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    sign_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Reads wait this long for signed links, then answer without them."
    )
    url_refresh_seconds: int = Field(
        default=300, ge=0, description="A cached signed link is signed again this long before it expires."
    )

    # The orchestrator (worker loop).
    worker_enabled: bool = Field(default=True, description="Run the worker loop beside the gRPC server.")
    worker_health_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="A worker-only replica serves the gRPC health service here (unset: no port at all).",
    )
    worker_concurrency: int = Field(default=16, ge=1, description="Steps one replica runs at once.")
    lease_seconds: float = Field(default=30.0, gt=0, description="A claim lapses this long after renewal.")
    idle_poll_seconds: float = Field(default=1.0, gt=0, description="Claim check when no event woke us.")
    poll_initial_seconds: float = Field(default=2.0, gt=0, description="First provider status poll.")
    poll_max_seconds: float = Field(default=30.0, gt=0, description="Polls slow down to this.")
    poll_learning: bool = Field(
        default=True,
        description="Poll on a schedule learned from recent generation times (poll_schedule.py).",
    )
    poll_near_seconds: float = Field(
        default=2.0, gt=0, description="Learned schedule: poll interval between the p10 and p90 times."
    )
    poll_min_samples: int = Field(
        default=10, ge=1, description="Generation times of a provider and model before learning applies."
    )
    poll_refresh_seconds: float = Field(default=60.0, gt=0, description="Learned times reload this often.")
    status_streams: int = Field(
        default=50,
        ge=0,
        description="fal jobs in flight whose status stream one replica follows at most (0: poll only).",
    )
    status_stream_max_wait_seconds: float = Field(
        default=60.0, gt=0, le=300, description="One AwaitGeneration call follows a stream this long."
    )
    retry_base_seconds: float = Field(default=1.0, gt=0, description="Backoff after a transient error.")
    retry_max_seconds: float = Field(default=60.0, gt=0)
    step_max_attempts: int = Field(default=5, ge=1, description="Transient failures before fallback.")
    submit_unknown_wait_seconds: float = Field(
        default=30.0, ge=0, description="Wait after an ambiguous submission before resubmitting."
    )
    max_unknown_submits: int = Field(
        default=2, ge=1, description="Ambiguous submissions on one provider before falling back."
    )
    job_deadline_seconds: float = Field(default=3600.0, gt=0, description="An attempt older fails.")
    provider_retry_attempts: int = Field(
        default=1, ge=0, description="Runs again on a provider that reported a retryable failure."
    )
    peer_wait_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between tries while our own service is out of reach."
    )
    # Provider limits, enforced across all replicas (job_service/limits.py). JSON keyed by provider or
    # "provider/model", e.g. {"runway": {"max_in_flight": 4}, "veo/veo-3.1-generate-001":
    # {"submits_per_minute": 5}}; setting it replaces the defaults ({} for no limits).
    limits: dict[str, ProviderLimitSetting] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS),
        description="Per-provider (or provider/model) max_in_flight and submits_per_minute.",
    )
    limit_window_seconds: float = Field(
        default=60.0, gt=0, description="The window submits_per_minute is counted over (scaled to it)."
    )
    throttle_wait_seconds: float = Field(
        default=5.0, gt=0, description="Submissions to a provider that answered 429 pause this long."
    )
    max_throttled_seconds: float = Field(
        default=900.0,
        ge=0,
        description="A job answered 429 for longer spends step attempts (then falls back) as if down.",
    )

    # Prometheus /metrics of this process (API and worker metrics alike); off unless a port is given, so
    # several processes on one host never collide. 0 picks a free port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_sample_seconds: float = Field(default=5.0, gt=0, description="Due-queue gauges refresh.")
    ready_probe_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often Postgres is pinged."
    )
    ready_probe_timeout_seconds: float = Field(
        default=1.0, gt=0, description="A ping slower than this counts as a miss."
    )
    # One late ping is a busy process, not a lost database: an overloaded replica must not flap out of
    # rotation.
    ready_probe_misses: int = Field(
        default=3, ge=1, description="Consecutive missed pings that make the API not serving."
    )

    # Upkeep (in worker replicas; one replica at a time runs each round).
    sweep_interval_seconds: float = Field(
        default=3600.0, ge=0, description="How often the orphan sweep runs; 0 turns it off."
    )
    # Longer than any finalization step (finalize_rpc_timeout_seconds), so nothing in flight is swept.
    sweep_grace_seconds: float = Field(default=3600.0, ge=0, description="Younger objects are never orphans.")
    sweep_batch: int = Field(default=500, ge=1, description="Objects one sweep round deletes at most.")

    # Retention (off unless set). Days may be fractional.
    retention_days: float | None = Field(
        default=None, gt=0, description="Finished jobs older than this lose their outputs and are hidden."
    )
    purge_days: float | None = Field(
        default=None, ge=0, description="Hidden (expired or deleted) jobs older than this are purged."
    )
    retention_interval_seconds: float = Field(default=3600.0, ge=0, description="0 turns retention off.")
    retention_batch: int = Field(default=100, ge=1, description="Jobs one retention round handles at most.")

    # Thumbnail backfill: completed jobs whose thumbnail failed get one made later (in worker replicas).
    thumbnail_interval_seconds: float = Field(
        default=300.0, ge=0, description="How often missing thumbnails are made again; 0 turns it off."
    )
    thumbnail_batch: int = Field(default=20, ge=1, description="Jobs one backfill round tries at most.")
    thumbnail_max_attempts: int = Field(
        default=5, ge=1, description="Background tries per job before it is left to the admin command."
    )

    # Outbound webhooks (docs/decisions/0011-outbound-webhooks-outbox.md). Senders run in worker replicas.
    webhook_secret_keys: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Fernet keys (comma-separated, newest first) that encrypt webhook secrets at rest.",
    )
    webhook_concurrency: int = Field(default=8, ge=1, description="Deliveries one replica sends at once.")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Each delivery's whole request.")
    webhook_retry_base_seconds: float = Field(
        default=15.0, gt=0, description="Wait before the first retry; doubles each attempt."
    )
    webhook_retry_max_seconds: float = Field(default=21600.0, gt=0, description="The longest wait (6 h).")
    webhook_max_attempts: int = Field(
        default=15, ge=1, description="Attempts before a delivery is failed (about a day with the defaults)."
    )
    webhook_disable_after_days: float = Field(
        default=5.0, gt=0, description="An endpoint failing every attempt this long is disabled."
    )
    webhook_secret_overlap_seconds: float = Field(
        default=86400.0, ge=0, description="After a rotation, the old secret signs too for this long."
    )
    webhook_lease_seconds: float = Field(default=60.0, gt=0, description="A sender's claim lapses after.")
    webhook_poll_seconds: float = Field(default=1.0, gt=0, description="How often idle senders look.")
    webhook_response_max_bytes: int = Field(
        default=4096, ge=0, description="Of a receiver's answer, at most this much is read (and kept)."
    )

    @model_validator(mode="after")
    def _refuse_dev_webhook_key_in_production(self) -> Self:
        keys = self.webhook_secret_keys.get_secret_value()
        if self.environment == "production" and (not keys.strip() or DEV_SECRET_KEY in keys):
            raise ValueError("VIDEOJOBS_WEBHOOK_SECRET_KEYS must be set to real Fernet keys in production")
        return self

    @field_validator("default_providers")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(PROVIDERS)
        if unknown or not value:
            raise ValueError(f"default_providers must be a non-empty subset of {', '.join(PROVIDERS)}")
        return value

    @field_validator("limits")
    @classmethod
    def _known_scopes(cls, value: dict[str, ProviderLimitSetting]) -> dict[str, ProviderLimitSetting]:
        for scope in value:
            match = _SCOPE.match(scope)
            if match is None or match.group(1) not in PROVIDERS:
                raise ValueError(
                    f"limits keys are a provider ({', '.join(PROVIDERS)}) or provider/model: {scope!r}"
                )
        return value

    @property
    def address(self) -> str:
        return f"{self.job_host}:{self.job_port}"

    def max_db_connections(self, *, serves_api: bool) -> int:
        """The most connections one process opens: the SQLAlchemy pool (pool size + overflow), the LISTEN
        connection and, for a process serving the API, the CreateJob driver pool (pool size; it stays empty
        in a worker-only replica) and the readiness ping's own connection. Size Postgres' max_connections for
        the sum over all replicas."""
        return self.db_pool_size + self.db_max_overflow + 1 + (self.db_pool_size + 1 if serves_api else 0)

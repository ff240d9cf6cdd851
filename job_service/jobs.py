"""What JobService does, as plain async functions of domain values. No gRPC, no SQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from job_service import apikeys, paging
from job_service.domain import Job, JobState, Limits, NewJob, Page, Quota, VideoSpec
from job_service.repository import ActiveLimitReached, Cursor, DailyLimitReached, JobRepository
from job_service.validation import check_client_request_id, normalize_spec
from videojobs.context import ADMIN_ROLE, USER_ROLE, Caller
from videojobs.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    QuotaExceeded,
    QuotaViolation,
    Unauthenticated,
)
from videojobs.logs import get_logger

log = get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_reset(now: datetime) -> datetime:
    """Daily quotas reset at 00:00 UTC."""
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Created:
    job: Job
    created: bool


class JobManager:
    def __init__(
        self,
        repository: JobRepository,
        limits: Limits,
        default_providers: Sequence[str],
        *,
        active_limit_retry_seconds: float = 15.0,
    ) -> None:
        self._repo = repository
        self._limits = limits
        self._default_providers = tuple(default_providers)
        self._active_retry = active_limit_retry_seconds

    async def create(self, caller: Caller, client_request_id: str, spec: VideoSpec) -> Created:
        key = check_client_request_id(client_request_id)
        normalized = normalize_spec(spec, self._default_providers)
        now = utc_now()
        new = NewJob(
            id=uuid.uuid4(),
            user_id=caller.user_id,
            client_request_id=key,
            spec=normalized,
            quota_day=now.date(),
        )
        log.info(
            "creating job", job_id=str(new.id), client_request_id=key, providers=list(normalized.providers)
        )
        try:
            outcome = await self._repo.create_job(new, self._limits)
        except DailyLimitReached as reached:
            raise self._daily_limit_error(caller, reached.used, now) from None
        except ActiveLimitReached as reached:
            raise QuotaExceeded(
                f"you have {reached.active} unfinished jobs (limit {self._limits.max_active}); "
                "wait for one to finish or cancel one",
                reason="ACTIVE_JOBS_LIMIT",
                violations=[QuotaViolation(f"user:{caller.user_id}", "active jobs per user")],
                retry_after=self._active_retry,
                metadata={"max_active": str(self._limits.max_active)},
            ) from None
        if not outcome.created and outcome.job.spec != normalized:
            raise AlreadyExists(
                "client_request_id was already used for a different request; use a new key for a new video",
                reason="IDEMPOTENCY_KEY_REUSED",
                metadata={"job_id": str(outcome.job.id), "client_request_id": key or ""},
            )
        if not outcome.created:
            log.info("replayed job", job_id=str(outcome.job.id), client_request_id=key)
        return Created(outcome.job, outcome.created)

    def _daily_limit_error(self, caller: Caller, used: int, now: datetime) -> QuotaExceeded:
        resets_at = next_reset(now)
        return QuotaExceeded(
            f"daily limit of {self._limits.daily_limit} videos reached ({used} used); "
            f"resets at {resets_at.isoformat()}",
            reason="DAILY_QUOTA_EXCEEDED",
            violations=[QuotaViolation(f"user:{caller.user_id}", "videos per UTC day")],
            retry_after=(resets_at - now).total_seconds(),
            metadata={"daily_limit": str(self._limits.daily_limit), "resets_at": resets_at.isoformat()},
        )

    async def get(self, caller: Caller, job_id: str) -> Job:
        job = await self._repo.get_job(caller.user_id, _job_id(job_id))
        if job is None:
            raise _not_found(job_id)
        return job

    async def list(
        self, caller: Caller, page_size: int, page_token: str, states: Collection[JobState]
    ) -> Page:
        size = paging.page_size(page_size)
        after = paging.decode(page_token, states)
        jobs = await self._repo.list_jobs(caller.user_id, states, after, size + 1)
        if len(jobs) <= size:
            return Page(jobs=jobs)
        last = jobs[size - 1]
        return Page(
            jobs=jobs[:size], next_page_token=paging.encode(Cursor(last.create_time, last.id), states)
        )

    async def cancel(self, caller: Caller, job_id: str) -> Job:
        """Cancel a job that has not reached a provider yet; its quota unit comes back."""
        parsed = _job_id(job_id)
        cancelled = await self._repo.cancel_pending(caller.user_id, parsed)
        if cancelled is not None:
            log.info("job cancelled", job_id=job_id)
            return cancelled
        job = await self._repo.get_job(caller.user_id, parsed)
        if job is None:
            raise _not_found(job_id)
        if job.state.terminal:
            raise FailedPrecondition(
                f"job is already {job.state.value}",
                reason="JOB_TERMINAL",
                metadata={"state": job.state.value},
            )
        raise FailedPrecondition(
            f"job is {job.state.value}: it has been sent to a provider and can no longer be cancelled",
            reason="JOB_ALREADY_SUBMITTED",
            metadata={"state": job.state.value},
        )

    async def quota(self, user_id: str) -> Quota:
        now = utc_now()
        used, active = await self._repo.usage(user_id, now.date())
        return Quota(
            user_id=user_id,
            daily_limit=self._limits.daily_limit,
            used_today=used,
            max_active=self._limits.max_active,
            active=active,
            resets_at=next_reset(now),
        )

    async def reset_quota(self, user_id: str) -> Quota:
        if not user_id:
            raise InvalidArgument.field("user_id", "is required")
        await self._repo.reset_usage(user_id, utc_now().date())
        log.info("quota reset", target_user_id=user_id)
        return await self.quota(user_id)

    async def mint_api_key(self, user_id: str, *, admin: bool = False) -> str:
        if not user_id:
            raise InvalidArgument.field("user_id", "is required")
        key = apikeys.mint()
        await self._repo.add_api_key(
            apikeys.fingerprint(key), apikeys.display_prefix(key), user_id, ADMIN_ROLE if admin else USER_ROLE
        )
        return key

    async def authenticate_api_key(self, api_key: str) -> Caller:
        if not api_key:
            raise InvalidArgument.field("api_key", "is required")
        owner = await self._repo.api_key_owner(apikeys.fingerprint(api_key))
        if owner is None:
            raise Unauthenticated("unknown or revoked API key", reason="INVALID_API_KEY")
        return Caller(user_id=owner.user_id, role=owner.role)


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field("id", "must be a job id (UUID)") from None


def _not_found(job_id: str) -> NotFound:
    # Another user's job looks exactly like a missing one: existence is not revealed.
    return NotFound(f"job {job_id} not found", reason="JOB_NOT_FOUND", metadata={"job_id": job_id})

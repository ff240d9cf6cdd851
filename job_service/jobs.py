"""The use cases of JobService (`Jobs`), as plain async methods on domain values. No gRPC, no SQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from job_service import apikeys, paging
from job_service.domain import (
    CreateOutcome,
    CreateReason,
    Cursor,
    Job,
    JobEvent,
    JobState,
    Limits,
    NewJob,
    Page,
    ProviderStatus,
    Quota,
    VideoSpec,
)
from job_service.event_hub import EventHub
from job_service.job_queries import ActiveLimitReached, DailyLimitReached, JobQueries
from job_service.key_queries import ApiKeyQueries
from job_service.limit_queries import LimitQueries
from job_service.metrics import JobMetrics
from job_service.peers import CallFailed, Peers, peer_error
from job_service.signed_urls import SignedUrl, SignedUrls
from job_service.validation import check_client_request_id, normalize_spec
from job_service.webhooks import Webhooks
from videojobs.context import Caller
from videojobs.contract import PROVIDERS
from videojobs.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
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


class Jobs:
    """Create, read, list, cancel, retry, delete and watch jobs; quotas; API keys; webhook news."""

    def __init__(
        self,
        queries: JobQueries,
        keys: ApiKeyQueries,
        peers: Peers,
        hub: EventHub,
        *,
        limits: Limits,
        default_providers: Sequence[str],
        urls: SignedUrls,
        active_limit_retry_seconds: float = 15.0,
        metrics: JobMetrics | None = None,
        dedupe_window_seconds: int = 60,
        image_buckets: Sequence[str] = (),
        webhooks: Webhooks | None = None,
        provider_limits: LimitQueries | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._metrics = metrics or JobMetrics()
        self._queries = queries
        self._keys = keys
        self._peers = peers
        self._hub = hub
        self._limits = limits
        self._default_providers = tuple(default_providers)
        self._urls = urls
        self._active_retry = active_limit_retry_seconds
        self._dedupe_window = dedupe_window_seconds
        self._image_buckets = frozenset(image_buckets)
        self._provider_limits = provider_limits

    async def create(
        self,
        caller: Caller,
        client_request_id: str,
        spec: VideoSpec,
        *,
        allow_duplicate: bool = False,
        webhook_url: str = "",
    ) -> CreateOutcome:
        """A new job, or the existing one this request repeats: the job made with the same key, or without a
        key, the user's unfinished or recent job with the same spec (unless `allow_duplicate`). A
        `webhook_url` is told this new job's outcome (a repeated request adds none)."""
        key = check_client_request_id(client_request_id)
        normalized = normalize_spec(spec, self._default_providers, image_buckets=self._image_buckets)
        now = utc_now()
        new = NewJob(
            id=uuid.uuid4(),
            user_id=caller.user_id,
            client_request_id=key,
            spec=normalized,
            quota_day=now.date(),
            allow_duplicate=allow_duplicate,
        )
        log.info(
            "creating job", job_id=str(new.id), client_request_id=key, providers=list(normalized.providers)
        )
        webhooks = self._webhooks if webhook_url else None
        one_off = (
            None if webhooks is None else await webhooks.add_job_webhook(caller.user_id, new.id, webhook_url)
        )
        returned = None
        try:
            outcome = await self._queries.create_job(new, self._limits, self._dedupe_window)
            returned = outcome.job.id
        except DailyLimitReached as reached:
            raise self._daily_limit_error(caller, reached.used, now) from None
        except ActiveLimitReached as reached:
            raise self._active_limit_error(caller, reached.active) from None
        finally:
            # Refused, replayed or a duplicate: no new job to tell about.
            if webhooks is not None and one_off is not None and returned != new.id:
                await webhooks.drop_job_webhook(caller.user_id, one_off)
        if outcome.reason is CreateReason.REPLAYED and outcome.job.spec != normalized:
            raise AlreadyExists(
                "client_request_id was already used for a different request; use a new key for a new video",
                reason="IDEMPOTENCY_KEY_REUSED",
                metadata={"job_id": str(outcome.job.id), "client_request_id": key or ""},
            )
        if outcome.reason is CreateReason.REPLAYED:
            log.info("replayed job", job_id=str(outcome.job.id), client_request_id=key)
        elif outcome.reason is CreateReason.DUPLICATE:
            log.info("duplicate request", job_id=str(outcome.job.id), state=outcome.job.state.value)
        self._metrics.created(outcome.reason)
        return outcome

    def _active_limit_error(self, caller: Caller, active: int) -> QuotaExceeded:
        return QuotaExceeded(
            f"you have {active} unfinished jobs (limit {self._limits.max_active}); "
            "wait for one to finish or cancel one",
            reason="ACTIVE_JOBS_LIMIT",
            violations=[QuotaViolation(f"user:{caller.user_id}", "active jobs per user")],
            retry_after=self._active_retry,
            metadata={"max_active": str(self._limits.max_active)},
        )

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
        job = await self._owned(caller, job_id)
        if job.state is JobState.PENDING and self._provider_limits is not None:
            return replace(job, queue_reason=await self._provider_limits.waiting_reason(job.id))
        return (await self.with_urls([job]))[0]

    async def _owned(self, caller: Caller, job_id: str) -> Job:
        job = await self._queries.get_job(caller.user_id, job_id_of(job_id))
        if job is None:
            raise not_found(job_id)
        return job

    async def with_urls(self, jobs: list[Job]) -> list[Job]:
        """Completed jobs with their signed download links (job_service.signed_urls: cached, or one SignUrls
        call for the whole list); those storage_service could not sign in time are marked urls_unavailable."""
        uris = [
            uri
            for job in jobs
            if job.state is JobState.COMPLETED
            for uri in (job.video_uri, job.thumbnail_uri)
            if uri
        ]
        if not uris:
            return jobs
        signed = await self._urls.sign(uris)
        return [_with_links(job, signed) if job.state is JobState.COMPLETED else job for job in jobs]

    async def event_with_urls(self, event: JobEvent) -> JobEvent:
        if event.job.state is not JobState.COMPLETED:
            return event
        return replace(event, job=(await self.with_urls([event.job]))[0])

    async def list(
        self, caller: Caller, page_size: int, page_token: str, states: Collection[JobState]
    ) -> Page:
        size = paging.page_size(page_size)
        after = paging.decode(page_token, states)
        jobs = await self._queries.list_jobs(caller.user_id, states, after, size + 1)
        if len(jobs) <= size:
            return Page(jobs=await self.with_urls(jobs))
        last = jobs[size - 1]
        return Page(
            jobs=await self.with_urls(jobs[:size]),
            next_page_token=paging.encode(Cursor(last.create_time, last.id), states),
        )

    async def cancel(self, caller: Caller, job_id: str) -> Job:
        """Cancel a job in any unfinished state. One no provider saw gets its quota unit back; one a
        provider runs is cancelled there too (best effort). A worker mid-step finds its lease gone and
        undoes what it just did (cancels the provider job it started, deletes what it stored)."""
        parsed = job_id_of(job_id)
        cancelled = await self._queries.cancel(caller.user_id, parsed)
        if cancelled is None:
            job = await self._owned(caller, job_id)
            raise FailedPrecondition(
                f"job is already {job.state.value}",
                reason="JOB_TERMINAL",
                metadata={"state": job.state.value},
            )
        job = cancelled.job
        log.info("job cancelled", job_id=job_id, previous_state=cancelled.previous_state.value)
        self._metrics.finished(JobState.CANCELLED, job.provider or "", job.create_time, job.end_time)
        if job.provider and job.provider_job_id:
            try:
                await self._peers.providers.cancel(job.provider, job.provider_job_id)
            except CallFailed as failure:
                log.warning("provider cancel failed", job_id=job_id, code=failure.code, reason=failure.reason)
        return job

    async def retry(self, caller: Caller, job_id: str) -> Job:
        """A FAILED or CANCELLED job starts over (same id, next attempt), taking a quota unit."""
        now = utc_now()
        result = await self._queries.retry(caller.user_id, job_id_of(job_id), now.date(), self._limits)
        if result.outcome == "not_found":
            raise not_found(job_id)
        if result.outcome == "not_retryable":
            state = result.job.state.value if result.job else "active"
            raise FailedPrecondition(
                f"only FAILED or CANCELLED jobs can be retried; this one is {state}",
                reason="JOB_NOT_RETRYABLE",
                metadata={"state": state},
            )
        if result.outcome == "daily_limit":
            raise self._daily_limit_error(caller, result.used, now)
        if result.outcome == "active_limit":
            raise self._active_limit_error(caller, result.active)
        assert result.job is not None
        log.info("job retried", job_id=job_id, attempt=result.job.attempt)
        return result.job

    async def delete(self, caller: Caller, job_id: str) -> tuple[str, ...]:
        """Delete the stored video and thumbnail, then hide the job. Unfinished jobs: cancel them first."""
        job = await self._owned(caller, job_id)
        if not job.state.terminal:
            raise FailedPrecondition(
                f"job is {job.state.value}; cancel it before deleting it",
                reason="JOB_ACTIVE",
                metadata={"state": job.state.value},
            )
        uris = [uri for uri in (job.video_uri, job.thumbnail_uri) if uri]
        try:
            deleted = await self._peers.storage.delete(uris)
        except CallFailed as failure:
            raise peer_error(failure) from None
        await self._queries.hide(caller.user_id, job.id)
        log.info("job deleted", job_id=job_id, deleted=list(deleted))
        return deleted

    async def watch(self, caller: Caller, job_id: str, after_sequence: int) -> AsyncIterator[JobEvent]:
        """The current state (or the events after `after_sequence`), then each change until terminal."""
        if after_sequence < 0:
            raise InvalidArgument.field("after_sequence", "must not be negative")
        parsed = job_id_of(job_id)
        async with self._hub.subscribe(parsed) as queue:
            job = await self.get(caller, job_id)
            if after_sequence:
                backlog = await self._queries.events_after(parsed, after_sequence)
                last = after_sequence
                for event in backlog:
                    last = event.sequence
                    yield await self.event_with_urls(event)
                    if event.state.terminal:
                        return
                if not backlog and job.state.terminal:
                    return
            else:
                last = await self._queries.last_sequence(parsed)
                yield JobEvent(last, job.id, "current", job.state, "", job.update_time, job)
                if job.state.terminal:
                    return
            self._hub.note_seen(parsed, last)
            while True:
                event = await queue.get()
                if event.sequence <= last:
                    continue
                last = event.sequence
                yield event
                if event.state.terminal:
                    return

    async def report_provider_event(
        self, provider: str, provider_job_id: str, status: ProviderStatus
    ) -> None:
        """A verified webhook's news: recorded, and the job made due now. Unknown ids are ignored."""
        violations: list[FieldViolation] = []
        if provider not in PROVIDERS:
            violations.append(FieldViolation("provider", f"must be one of {', '.join(PROVIDERS)}"))
        if not provider_job_id:
            violations.append(FieldViolation("provider_job_id", "is required"))
        if status.state == "STATE_UNSPECIFIED":
            violations.append(FieldViolation("status.state", "is required"))
        if violations:
            raise InvalidArgument(violations)
        job_id = await self._queries.record_provider_news(provider, provider_job_id, status.to_json())
        log.info(
            "provider event",
            provider=provider,
            provider_job_id=provider_job_id,
            state=status.state,
            job_id=str(job_id) if job_id else None,
        )

    async def quota(self, user_id: str) -> Quota:
        now = utc_now()
        used, active = await self._queries.usage(user_id, now.date())
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
        await self._queries.reset_usage(user_id, utc_now().date())
        log.info("quota reset", target_user_id=user_id)
        return await self.quota(user_id)

    async def mint_api_key(self, user_id: str, *, admin: bool = False) -> str:
        return await apikeys.mint_for(self._keys, user_id, admin=admin)

    async def authenticate_api_key(self, api_key: str) -> Caller:
        if not api_key:
            raise InvalidArgument.field("api_key", "is required")
        owner = await self._keys.api_key_owner(apikeys.fingerprint(api_key))
        if owner is None:
            raise Unauthenticated("unknown or revoked API key", reason="INVALID_API_KEY")
        return Caller(user_id=owner.user_id, role=owner.role)


def job_id_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field("id", "must be a job id (UUID)") from None


def not_found(job_id: str) -> NotFound:
    # Another user's job looks exactly like a missing one: existence is not revealed.
    return NotFound(f"job {job_id} not found", reason="JOB_NOT_FOUND", metadata={"job_id": job_id})


def _with_links(job: Job, signed: Mapping[str, SignedUrl]) -> Job:
    """A completed job with its links, or without them and marked urls_unavailable."""
    wanted = [uri for uri in (job.video_uri, job.thumbnail_uri) if uri]
    if not wanted:
        return job
    if any(uri not in signed for uri in wanted):
        return replace(job, urls_unavailable=True)
    video = signed.get(job.video_uri or "")
    thumbnail = signed.get(job.thumbnail_uri or "")
    return replace(
        job,
        video_url=video.url if video else "",
        thumbnail_url=thumbnail.url if thumbnail else "",
        urls_expire_time=min(signed[uri].expire_time for uri in wanted),
    )

"""One step of a job's life, per claim: what to call, and which transition the outcome leads to.

    PENDING     -> SUBMITTING (recorded before the call) -> SubmitGeneration -> PROCESSING
    PROCESSING  -> GetGenerationStatus (or the webhook's news) -> poll again later | FINALIZING | fallback
    FINALIZING  -> ResolveOutput (Veo) -> Relocate -> ProbeVideo -> CreateThumbnail -> COMPLETED

Failure rules (docs/failure-rules.md has them in full):
- Transient errors (CallFailed.transient) retry the same step with exponential backoff and jitter,
  honouring the peer's RetryInfo, at most `step_max_attempts` times; then the next provider is tried.
- A provider's FAILED/CANCELLED result, or an output that is not a video, moves to the next provider.
- All providers exhausted: FAILED with the last error, and the quota unit is given back.
- CONTENT_VIOLATION is terminal: the provider's reasons are kept, no fallback, no refund.
- An attempt older than `job_deadline_seconds` fails with DEADLINE_EXCEEDED.

Ambiguous submissions. SUBMITTING in the database means "a submission may have reached the provider".
A submit answered SUBMIT_OUTCOME_UNKNOWN, or a worker that died mid-submit, leaves the job there. The rule:
wait `submit_unknown_wait_seconds`, then resubmit with the SAME idempotency key (providers that
deduplicate return the first job; the others may run a second, paid, generation: the price of not losing
the user's video), at most `max_unknown_submits` submissions in all on one provider; past that, fall
back to the next provider rather than risk more duplicates. `unknown_submits` counts submissions started
and not (yet) answered; it is raised before each call, so a crash is counted too.
Why this rule: docs/decisions/0001-submit-rule.md.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from job_service.domain import JobError, JobState, ProviderStatus, VideoInfo
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.peers import NOT_A_VIDEO, SUBMIT_OUTCOME_UNKNOWN, CallFailed, Peers
from videojobs.logs import get_logger

log = get_logger(__name__)

_CLEAR_PROVIDER_RUN = {
    "provider_job_id": None,
    "step_attempts": 0,
    "unknown_submits": 0,
    "poll_count": 0,
    "provider_result": None,
    "provider_news": None,
}


@dataclass(frozen=True)
class Policy:
    bucket: str
    poll_initial_seconds: float = 2.0
    poll_max_seconds: float = 30.0
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    step_max_attempts: int = 5
    submit_unknown_wait_seconds: float = 30.0
    max_unknown_submits: int = 2
    job_deadline_seconds: float = 3600.0

    def poll_delay(self, polls_done: int) -> float:
        """Soon at first (short jobs finish fast), then 1.5x per poll up to the maximum."""
        return min(self.poll_initial_seconds * 1.5**polls_done, self.poll_max_seconds)

    def backoff(self, failures: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, never sooner than the peer asked for."""
        ceiling = min(self.retry_base_seconds * 2 ** (failures - 1), self.retry_max_seconds)
        return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)


def video_key(item: WorkItem) -> str:
    return f"videos/{item.job.user_id}/{item.job.id}.mp4"


def thumbnail_key(item: WorkItem) -> str:
    return f"thumbnails/{item.job.user_id}/{item.job.id}.jpg"


class Orchestrator:
    def __init__(self, store: LeaseQueries, peers: Peers, policy: Policy) -> None:
        self._store = store
        self._providers = peers.providers
        self._storage = peers.storage
        self._policy = policy

    def incoming_prefix(self, item: WorkItem) -> str:
        return f"gs://{self._policy.bucket}/incoming/{item.job.id}/"

    async def advance(self, item: WorkItem) -> None:
        """Run the step the claimed job is due for."""
        age = (datetime.now(UTC) - item.attempt_time).total_seconds()
        if age > self._policy.job_deadline_seconds:
            error = JobError("DEADLINE_EXCEEDED", f"the job did not finish within {age:.0f}s", retryable=True)
            await self._cancel_at_provider(item)
            await self._fail(item, error)
            return
        state = item.job.state
        if state in (JobState.PENDING, JobState.SUBMITTING):
            await self._submit(item)
        elif state is JobState.PROCESSING:
            await self._poll(item)
        elif state is JobState.FINALIZING:
            await self._finalize(item)

    # -- submission -------------------------------------------------------------------------------

    async def _submit(self, item: WorkItem) -> None:
        if item.job.state is JobState.SUBMITTING and item.unknown_submits >= self._policy.max_unknown_submits:
            error = JobError(SUBMIT_OUTCOME_UNKNOWN, "the provider never confirmed the submission", True)
            await self._fallback(item, error)
            return
        started = await self._store.apply(
            item,
            Transition(
                JobState.SUBMITTING,
                {"provider": item.provider, "unknown_submits": item.unknown_submits + 1},
                keep_lease=True,
                event="submitting" if item.job.state is JobState.PENDING else None,
                message=f"submitting to {item.provider}",
                detail={"provider": item.provider},
            ),
        )
        if started is None:
            return
        item = started
        # Stable per job, attempt and provider: a resubmission after an unknown outcome reuses it.
        key = f"{item.job.id}-{item.job.attempt}-{item.provider_index}"
        try:
            provider_job_id = await self._providers.submit(
                item.provider, item.job.spec, key, self.incoming_prefix(item)
            )
        except CallFailed as failure:
            await self._submit_failed(item, failure)
            return
        moved = await self._store.apply(
            item,
            Transition(
                JobState.PROCESSING,
                {
                    "provider_job_id": provider_job_id,
                    "unknown_submits": 0,
                    "step_attempts": 0,
                    "poll_count": 0,
                },
                due_in=self._policy.poll_delay(0),
                event="state_changed",
                message=f"{item.provider} job started",
                detail={"provider": item.provider, "provider_job_id": provider_job_id},
            ),
        )
        if moved is None:
            # Cancelled (or taken over) while we were submitting: the provider job is nobody's.
            await self._cancel_orphan(item.provider, provider_job_id)
            return
        log.info(
            "provider job started",
            job_id=str(item.job.id),
            provider=item.provider,
            provider_job_id=provider_job_id,
        )

    async def _submit_failed(self, item: WorkItem, failure: CallFailed) -> None:
        log.warning(
            "submit failed",
            job_id=str(item.job.id),
            provider=item.provider,
            code=failure.code,
            reason=failure.reason,
        )
        if failure.reason == SUBMIT_OUTCOME_UNKNOWN:
            # Stay in SUBMITTING (the provider may have the job); see the module docstring for the rule.
            delay = max(self._policy.submit_unknown_wait_seconds, failure.retry_after or 0.0)
            await self._store.apply(item, Transition(JobState.SUBMITTING, due_in=delay))
            return
        # The provider certainly has no job: this submission does not count as an unknown one.
        not_started = {"unknown_submits": item.unknown_submits - 1}
        if failure.transient:
            await self._retry_later(item, failure, JobState.PENDING, extra=not_started)
            return
        await self._fallback(item, JobError(failure.reason, failure.message, retryable=False))

    # -- processing ----------------------------------------------------------------------------------

    async def _poll(self, item: WorkItem) -> None:
        provider_job_id = item.job.provider_job_id or ""
        news = ProviderStatus.from_json(item.provider_news) if item.provider_news else None
        if news is not None and news.state in ("SUCCEEDED", "FAILED", "CONTENT_VIOLATION", "CANCELLED"):
            status = news  # a verified webhook told us the outcome: no need to ask again
        else:
            try:
                status = await self._providers.status(item.provider, provider_job_id)
            except CallFailed as failure:
                if failure.transient:
                    await self._retry_later(item, failure, JobState.PROCESSING)
                else:
                    await self._fallback(item, JobError(failure.reason, failure.message), cancel=True)
                return
        log.info(
            "provider status mapped", job_id=str(item.job.id), provider=item.provider, state=status.state
        )
        if status.state in ("QUEUED", "RUNNING", "STATE_UNSPECIFIED"):
            values = {"poll_count": item.poll_count + 1, "step_attempts": 0, "provider_news": None}
            due = self._policy.poll_delay(item.poll_count + 1)
            await self._store.apply(item, Transition(JobState.PROCESSING, values, due_in=due))
        elif status.state == "SUCCEEDED":
            await self._store.apply(
                item,
                Transition(
                    JobState.FINALIZING,
                    {"provider_result": status.to_json(), "step_attempts": 0},
                    event="state_changed",
                    message=f"{item.provider} finished; storing the video",
                    detail={"outputs": len(status.output_uris)},
                ),
            )
        elif status.state == "CONTENT_VIOLATION":
            reasons = status.violation_reasons
            error = JobError(
                status.error_code or "CONTENT_VIOLATION",
                status.error_message or "the provider refused the content",
                False,
                reasons,
            )
            await self._finish(item, JobState.CONTENT_VIOLATION, error, refund=False)
        else:  # FAILED, or CANCELLED by the provider
            error = JobError(
                status.error_code or f"PROVIDER_{status.state}",
                status.error_message or f"{item.provider} reported {status.state}",
                True,
            )
            await self._fallback(item, error)

    # -- finalizing ----------------------------------------------------------------------------------

    async def _finalize(self, item: WorkItem) -> None:
        result = ProviderStatus.from_json(item.provider_result or {"state": "SUCCEEDED"})
        try:
            stored_uri, leftovers = await self._store_video(item, result)
            video = await self._storage.probe(stored_uri)
            thumbnail = await self._storage.thumbnail(stored_uri, thumbnail_key(item))
            await self._storage.delete(leftovers)
        except CallFailed as failure:
            if failure.transient:
                await self._retry_later(item, failure, JobState.FINALIZING)
            else:
                await self._unusable_output(item, failure)
            return
        values = {"video_uri": stored_uri, "thumbnail_uri": thumbnail.uri, "video": _video_json(video)}
        done = await self._store.apply(
            item,
            Transition(
                JobState.COMPLETED, values, due_in=None, event="state_changed", message="video stored"
            ),
        )
        if done is None:
            current = await self._store.current(item.job.id)
            if current is not None and current.state is JobState.CANCELLED:
                # A late success after a cancel stores nothing.
                await self._storage.delete([stored_uri, thumbnail.uri])
            return
        log.info(
            "upload completed", job_id=str(item.job.id), video_uri=stored_uri, size_bytes=video.size_bytes
        )

    async def _unusable_output(self, item: WorkItem, failure: CallFailed) -> None:
        """The provider said it succeeded but gave nothing we can store (missing, not a video, too large,
        refused to be fetched). Retryable on the next provider, after removing what this run wrote."""
        try:
            await self._storage.delete(
                [self.destination(video_key(item)), self.destination(thumbnail_key(item))]
            )
        except CallFailed as cleanup:
            await self._retry_later(item, cleanup, JobState.FINALIZING)
            return
        if failure.code == "NOT_FOUND":
            code = "OUTPUT_MISSING"
        elif failure.reason == NOT_A_VIDEO:
            code = "OUTPUT_NOT_A_VIDEO"
        else:
            code = "OUTPUT_UNUSABLE"
        message = f"{item.provider} reported success, but its output is unusable: {failure.message}"
        await self._fallback(item, JobError(code, message, retryable=True))

    def destination(self, key: str) -> str:
        return f"gs://{self._policy.bucket}/{key}"

    async def _store_video(self, item: WorkItem, result: ProviderStatus) -> tuple[str, list[str]]:
        """Copy the provider's output to the job's own place; returns its URI and originals to delete."""
        destination = self.destination(video_key(item))
        gcs_outputs = [uri for uri in result.output_uris if uri.startswith("gs://")]
        headers: Mapping[str, str] = {}
        leftovers: list[str] = []
        if gcs_outputs or not result.output_uris:
            try:
                found = await self._storage.resolve_output(gcs_outputs, self.incoming_prefix(item))
            except CallFailed as failure:
                if failure.code != "NOT_FOUND":
                    raise
                # Nothing under the prefix: an earlier run of this step moved it (probe will tell),
                # or the provider wrote nothing (probe finds no video either, and we fall back).
                return destination, []
            source, leftovers = found.uri, list(found.other_candidates)
        else:
            source = result.output_uris[0]
            if item.provider_result and item.provider_result.get("needs_fetch_headers"):
                status = await self._providers.status(item.provider, item.job.provider_job_id or "")
                headers = status.fetch_headers
        log.info("upload started", job_id=str(item.job.id), source=source)
        stored = await self._storage.relocate(
            source, video_key(item), delete_source=source.startswith("gs://"), headers=headers
        )
        return stored.uri, leftovers

    # -- outcomes ----------------------------------------------------------------------------------

    async def _retry_later(
        self, item: WorkItem, failure: CallFailed, state: JobState, extra: Mapping[str, Any] | None = None
    ) -> None:
        failures = item.step_attempts + 1
        if failures >= self._policy.step_max_attempts:
            error = JobError(failure.reason, f"{failure.code}: {failure.message}", retryable=True)
            await self._fallback(item, error, cancel=state is JobState.PROCESSING)
            return
        delay = self._policy.backoff(failures, failure.retry_after)
        log.info(
            "step retry scheduled",
            job_id=str(item.job.id),
            state=state.value,
            failures=failures,
            delay_seconds=round(delay, 2),
            reason=failure.reason,
        )
        values = {"step_attempts": failures, **(extra or {})}
        await self._store.apply(item, Transition(state, values, due_in=delay))

    async def _fallback(self, item: WorkItem, error: JobError, *, cancel: bool = False) -> None:
        if cancel:
            await self._cancel_at_provider(item)
        following = item.provider_index + 1
        if following >= len(item.job.spec.providers):
            await self._fail(item, error)
            return
        to = item.job.spec.providers[following]
        log.warning(
            "provider fallback", job_id=str(item.job.id), provider=item.provider, to=to, error=error.code
        )
        await self._store.apply(
            item,
            Transition(
                JobState.PENDING,
                {
                    **_CLEAR_PROVIDER_RUN,
                    "provider_index": following,
                    "provider": to,
                    "error": _error_json(error),
                },
                event="fallback",
                message=f"{item.provider} failed ({error.code}); trying {to}",
                detail={"from": item.provider, "to": to, "error_code": error.code},
            ),
        )

    async def _fail(self, item: WorkItem, error: JobError) -> None:
        log.warning(
            "job failed",
            job_id=str(item.job.id),
            provider=item.provider,
            error=error.code,
            message=error.message,
        )
        await self._finish(item, JobState.FAILED, error, refund=True)

    async def _finish(self, item: WorkItem, state: JobState, error: JobError, *, refund: bool) -> None:
        await self._store.apply(
            item,
            Transition(
                state,
                {"error": _error_json(error), "provider_news": None},
                due_in=None,
                event="state_changed",
                message=error.message,
                detail={"error_code": error.code},
                refund=refund,
            ),
        )

    async def _cancel_at_provider(self, item: WorkItem) -> None:
        if item.job.provider_job_id:
            await self._cancel_orphan(item.provider, item.job.provider_job_id)

    async def _cancel_orphan(self, provider: str, provider_job_id: str) -> None:
        try:
            await self._providers.cancel(provider, provider_job_id)
        except CallFailed as failure:  # best effort: the provider may not support it or be down
            log.warning(
                "provider cancel failed",
                provider=provider,
                provider_job_id=provider_job_id,
                code=failure.code,
            )


def _error_json(error: JobError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "retryable": error.retryable,
        "violation_reasons": list(error.violation_reasons),
    }


def _video_json(video: VideoInfo) -> dict[str, Any]:
    return dataclasses.asdict(video)

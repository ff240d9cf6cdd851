"""The failure rules: what a failed step leads to. The orchestrator's steps find that a call failed; these
methods decide, by the rules below (docs/failure-rules.md has them in full), whether the step runs again,
the next provider is tried, or the job ends, and write that transition.

- Transient errors (CallFailed.transient) retry the same step with exponential backoff and jitter,
  honouring the peer's RetryInfo, at most `step_max_attempts` times; then the next provider is tried.
- Our own outage (CallFailed.peer: provider_service or storage_service did not answer at all) is not the
  provider's failure: the step waits for the peer with capped backoff, for as long as the job deadline
  allows, without spending the step's attempts and without ever falling back. The job shows what it waits
  for (Job.waiting_for).
- A provider's FAILED result that the provider calls retryable (Runway INTERNAL, fal runner_*, Veo code
  13/14, ...) runs the job again on the same provider, at most `provider_retry_attempts` times (a
  `provider_retry` event each); after that, and for any other FAILED or CANCELLED result or an output that
  is not a video, the next provider is tried.
- All providers exhausted: FAILED with the last error, and the quota unit is given back.
- CONTENT_VIOLATION is terminal: the provider's reasons are kept, no fallback, no refund.
- An attempt older than `job_deadline_seconds` fails with DEADLINE_EXCEEDED.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from job_service.domain import JobError, JobState
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.peers import CallFailed, ProviderClient
from job_service.policy import Policy
from videojobs.logs import get_logger

log = get_logger(__name__)

_CLEAR_PROVIDER_RUN = {
    "provider_job_id": None,
    "throttled_since": None,
    "step_attempts": 0,
    "unknown_submits": 0,
    "poll_count": 0,
    "provider_result": None,
    "provider_news": None,
}
_CLEAR_PROVIDER = {**_CLEAR_PROVIDER_RUN, "provider_retries": 0, "waiting_since": None}


class FailureRules:
    def __init__(self, leases: LeaseQueries, providers: ProviderClient, policy: Policy) -> None:
        self._leases = leases
        self._providers = providers
        self._policy = policy

    async def ended_by_deadline(self, item: WorkItem) -> bool:
        """Fail an attempt older than `job_deadline_seconds` (cancelled at the provider); True if it was."""
        age = (datetime.now(UTC) - item.attempt_time).total_seconds()
        if age <= self._policy.job_deadline_seconds:
            return False
        error = JobError("DEADLINE_EXCEEDED", f"the job did not finish within {age:.0f}s", retryable=True)
        await self.cancel_at_provider(item)
        await self.fail(item, error)
        return True

    async def retry_later(
        self, item: WorkItem, failure: CallFailed, state: JobState, extra: Mapping[str, Any] | None = None
    ) -> None:
        """The same step again after a backoff; past `step_max_attempts` failures, the next provider.
        A failure of our own service waits for it instead (`wait_for_peer`)."""
        if failure.peer:
            await self.wait_for_peer(item, failure, state, extra)
            return
        failures = item.step_attempts + 1
        if failures >= self._policy.step_max_attempts:
            error = JobError(failure.reason, f"{failure.code}: {failure.message}", retryable=True)
            await self.fallback(item, error, cancel=state is JobState.PROCESSING)
            return
        delay = self._policy.backoff(failures, failure.retry_after)
        item.log.info(
            "step retry scheduled",
            state=state.value,
            failures=failures,
            delay_seconds=round(delay, 2),
            reason=failure.reason,
        )
        values = {"step_attempts": failures, **(extra or {})}
        await self._leases.apply(item, Transition(state, values, due_in=delay))

    async def wait_for_peer(
        self, item: WorkItem, failure: CallFailed, state: JobState, extra: Mapping[str, Any] | None = None
    ) -> None:
        """The same step again once `failure.peer` may be back: capped backoff, bounded only by the job
        deadline (checked at every claim); step_attempts and the provider are left as they were."""
        waits = item.peer_waits + 1
        delay = self._policy.peer_wait(waits)
        item.log.warning(
            "waiting for peer",
            state=state.value,
            peer=failure.peer,
            code=failure.code,
            waits=waits,
            delay_seconds=round(delay, 2),
        )
        started = item.job.waiting_for != failure.peer
        await self._leases.apply(
            item,
            Transition(
                state,
                {"waiting_for": failure.peer, "peer_waits": waits, **(extra or {})},
                due_in=delay,
                # Watchers hear once that the job waits (not at every try); the next step clears it.
                event="waiting" if started else None,
                message=f"waiting for {failure.peer}",
                detail={"peer": failure.peer, "code": failure.code},
            ),
        )

    async def retry_provider(self, item: WorkItem, error: JobError) -> None:
        """The same provider again after a failure it calls retryable; past the bound, the next provider."""
        retry = item.provider_retries + 1
        if retry > self._policy.provider_retry_attempts:
            await self.fallback(item, error)
            return
        item.log.warning("provider retry", error=error.code, retry=retry)
        await self._leases.apply(
            item,
            Transition(
                JobState.PENDING,
                {**_CLEAR_PROVIDER_RUN, "provider_retries": retry, "error": _error_json(error)},
                due_in=self._policy.backoff(retry, None),
                event="provider_retry",
                message=f"{item.provider} failed ({error.code}); trying {item.provider} again",
                detail={"provider": item.provider, "error_code": error.code, "retry": retry},
            ),
        )

    async def fallback(self, item: WorkItem, error: JobError, *, cancel: bool = False) -> None:
        """The next provider, from PENDING (cancelling this one's job if asked); FAILED if none is left."""
        if cancel:
            await self.cancel_at_provider(item)
        following = item.provider_index + 1
        if following >= len(item.job.spec.providers):
            await self.fail(item, error)
            return
        to = item.job.spec.providers[following]
        item.log.warning("provider fallback", to=to, error=error.code)
        await self._leases.apply(
            item,
            Transition(
                JobState.PENDING,
                {
                    **_CLEAR_PROVIDER,
                    "provider_index": following,
                    "provider": to,
                    "error": _error_json(error),
                },
                event="fallback",
                message=f"{item.provider} failed ({error.code}); trying {to}",
                detail={"from": item.provider, "to": to, "error_code": error.code},
            ),
        )

    async def fail(self, item: WorkItem, error: JobError) -> None:
        """FAILED with the last error, and the quota unit given back."""
        item.log.warning("job failed", error=error.code, message=error.message)
        await self.finish(item, JobState.FAILED, error, refund=True)

    async def finish(self, item: WorkItem, state: JobState, error: JobError, *, refund: bool) -> None:
        """End the job in a terminal `state` with its error (FAILED, CONTENT_VIOLATION)."""
        await self._leases.apply(
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

    async def cancel_at_provider(self, item: WorkItem) -> None:
        if item.job.provider_job_id:
            await self.cancel_orphan(item.provider, item.job.provider_job_id)

    async def cancel_orphan(self, provider: str, provider_job_id: str) -> None:
        """Cancel a provider job that no claim owns any more (best effort)."""
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

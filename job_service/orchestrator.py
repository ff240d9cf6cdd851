"""One step of a job's life, per claim: what to call, and which transition the outcome leads to.

    PENDING     -> SUBMITTING (recorded before the call) -> SubmitGeneration -> PROCESSING
    PROCESSING  -> GetGenerationStatus (or the webhook's news) -> poll again later | FINALIZING | fallback
                   (fal: its status stream, followed meanwhile, makes the job due as soon as it finishes;
                   polls then only as a safety net, every poll_max_seconds)
    FINALIZING  -> ResolveOutput (Veo) -> Relocate -> ProbeVideo -> CreateThumbnail -> COMPLETED

What a failed call leads to (retry later, the next provider, or the end of the job) is failure_rules.py.

Ambiguous submissions. SUBMITTING in the database means "a submission may have reached the provider".
A submit answered SUBMIT_OUTCOME_UNKNOWN (also when provider_service itself died mid-call: see
peers.ProviderClient), or a worker that died mid-submit, leaves the job there. The rule:
wait `submit_unknown_wait_seconds`, then resubmit with the SAME idempotency key (providers that
deduplicate return the first job; the others may run a second, paid, generation: the price of not losing
the user's video), at most `max_unknown_submits` submissions in all on one provider; past that, fall
back to the next provider rather than risk more duplicates. `unknown_submits` counts submissions started
and not (yet) answered; it is raised before each call, so a crash is counted too.
Why this rule: docs/decisions/0001-submit-rule.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from job_service.domain import JobError, JobState, ProviderStatus, VideoInfo
from job_service.failure_rules import FailureRules
from job_service.lease_queries import LeaseQueries, Transition, WorkItem
from job_service.peers import CallFailed, Peers
from job_service.policy import Policy
from job_service.poll_schedule import LearnedPolls
from job_service.status_streams import StatusStreams
from videojobs.contract import TERMINAL_GENERATION_STATES, Reason
from videojobs.effective import EffectiveSpec
from videojobs.errors import Unavailable
from videojobs.identity import key_segment


def video_key(item: WorkItem) -> str:
    return f"videos/{key_segment(item.job.user_id)}/{item.job.id}.mp4"


def thumbnail_key(item: WorkItem) -> str:
    return f"thumbnails/{key_segment(item.job.user_id)}/{item.job.id}.jpg"


class Orchestrator:
    def __init__(
        self,
        leases: LeaseQueries,
        peers: Peers,
        policy: Policy,
        polls: LearnedPolls | None = None,
        streams: StatusStreams | None = None,
    ) -> None:
        self._leases = leases
        self._providers = peers.providers
        self._storage = peers.storage
        self._policy = policy
        self._rules = FailureRules(leases, peers.providers, policy)
        self._polls = polls
        self._streams = streams

    def _safety_net(self, item: WorkItem, provider_job_id: str, normal: float) -> float:
        """Seconds until the next poll: `normal`, or longer while this replica follows the job's status
        stream (or is about to), which makes the job due when it finishes or hands it back to the normal
        schedule when it ends otherwise (status_streams.py)."""
        if self._streams is None or not self._streams.can_follow(item.job.id, item.provider, provider_job_id):
            return normal
        # The schedule's own ceiling: the longest any job goes unpolled anyway, and the most a job waits
        # when this replica dies with its stream (another replica then claims it).
        return self._policy.poll_max_seconds

    async def _follow_stream(self, item: WorkItem, provider_job_id: str, normal: float, due: float) -> None:
        """Follow the provider's status stream where it has one and this replica has room (status_streams)."""
        if self._streams is None or self._streams.follow(item.job.id, item.provider, provider_job_id, normal):
            return
        if due > normal:
            # Another step took the room while this one wrote the safety net's due: the normal one after all.
            try:
                await self._leases.due_within(item.job.id, provider_job_id, normal)
            except Unavailable:
                item.log.warning("job left to its safety-net poll")

    async def _poll_delay(self, item: WorkItem, polls_done: int, *, elapsed: float | None = None) -> float:
        """Seconds until the next status poll (poll_schedule.py; today's schedule without history)."""
        if self._polls is None:
            return self._policy.poll_delay(polls_done)
        if elapsed is None:
            elapsed = (datetime.now(UTC) - item.state_time).total_seconds()
        try:
            return await self._polls.next_delay(item.provider, item.job.spec.model, elapsed, polls_done)
        except Unavailable:
            return self._policy.poll_delay(polls_done)

    async def _record_generation_time(self, item: WorkItem) -> None:
        if self._polls is None:
            return
        try:
            await self._polls.record(item.provider, item.job.spec.model, item.state_time)
        except Unavailable:  # only the schedule's history misses one sample
            item.log.warning("generation time not recorded")

    async def _count_accepted(self, item: WorkItem) -> None:
        try:
            await self._leases.throttles.accepted(item.provider, item.job.id)
        except Unavailable:  # the submission keeps counting from its claim: its window may end a little early
            item.log.warning("accepted submission not recounted")

    def incoming_prefix(self, item: WorkItem) -> str:
        return f"gs://{self._policy.bucket}/incoming/{item.job.id}/"

    async def advance(self, item: WorkItem) -> None:
        """Run the step the claimed job is due for."""
        if await self._rules.ended_by_deadline(item):
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
        if item.waiting_since is not None:
            # Held back by a limit past its max_queue_seconds (limit_queries.py): the next provider.
            waited = (datetime.now(UTC) - item.waiting_since).total_seconds()
            message = f"{item.provider} had no free slot for {waited:.0f}s"
            await self._rules.fallback(item, JobError("PROVIDER_SATURATED", message, retryable=True))
            return
        if item.job.state is JobState.SUBMITTING and item.unknown_submits >= self._policy.max_unknown_submits:
            error = JobError(
                Reason.SUBMIT_OUTCOME_UNKNOWN, "the provider never confirmed the submission", True
            )
            await self._rules.fallback(item, error)
            return
        started = await self._leases.apply(
            item,
            Transition(
                JobState.SUBMITTING,
                {
                    "provider": item.provider,
                    "unknown_submits": item.unknown_submits + 1,
                    "effective": None,
                    # Still waiting, until provider_service answers this submission.
                    "waiting_for": item.job.waiting_for,
                    "peer_waits": item.peer_waits,
                },
                keep_lease=True,
                event="submitting" if item.job.state is JobState.PENDING else None,
                message=f"submitting to {item.provider}",
                detail={"provider": item.provider},
            ),
        )
        if started is None:
            return
        item = started
        # Stable per job, attempt, provider and provider run: a resubmission after an unknown outcome reuses
        # it; a run after a retryable failure must not (a deduplicating provider would return the failure).
        key = f"{item.job.id}-{item.job.attempt}-{item.provider_index}"
        if item.provider_retries:
            key += f"-{item.provider_retries}"
        try:
            submitted = await self._providers.submit(
                item.provider, item.job.spec, key, self.incoming_prefix(item)
            )
        except CallFailed as failure:
            await self._submit_failed(item, failure)
            return
        provider_job_id, effective = submitted.provider_job_id, submitted.effective
        asked = effective.to_json() if effective else None
        normal = await self._poll_delay(item, 0, elapsed=0.0)
        due = self._safety_net(item, provider_job_id, normal)
        moved = await self._leases.apply(
            item,
            Transition(
                JobState.PROCESSING,
                {
                    "provider_job_id": provider_job_id,
                    "effective": asked,
                    "unknown_submits": 0,
                    "step_attempts": 0,
                    "poll_count": 0,
                    "throttled_since": None,
                },
                due_in=due,
                event="state_changed",
                message=f"{item.provider} job started" + (f": {_asked(effective)}" if effective else ""),
                detail={"provider": item.provider, "provider_job_id": provider_job_id, "effective": asked},
            ),
        )
        await self._count_accepted(item)
        if moved is None:
            # Cancelled (or taken over) while we were submitting: the provider job is nobody's.
            await self._rules.cancel_orphan(item.provider, provider_job_id)
            return
        item.log.info("provider job started", provider_job_id=provider_job_id)
        await self._follow_stream(item, provider_job_id, normal, due)

    async def _submit_failed(self, item: WorkItem, failure: CallFailed) -> None:
        item.log.warning("submit failed", code=failure.code, reason=failure.reason)
        if failure.reason == Reason.SUBMIT_OUTCOME_UNKNOWN:
            # Stay in SUBMITTING (the provider may have the job); see the module docstring for the rule.
            # Cut short by our own outage, the job also shows that it waits for provider_service.
            delay = max(self._policy.submit_unknown_wait_seconds, failure.retry_after or 0.0)
            waiting = {"waiting_for": failure.peer, "peer_waits": item.peer_waits + 1} if failure.peer else {}
            await self._leases.apply(item, Transition(JobState.SUBMITTING, waiting, due_in=delay))
            return
        # The provider certainly has no job: this submission does not count as an unknown one. A
        # provider_service out of reach (nothing sent) is waited for in the state the job was in.
        not_started = {"unknown_submits": item.unknown_submits - 1}
        if failure.peer:
            # Back to PENDING, unless an earlier submission's outcome is still unknown.
            state = JobState.SUBMITTING if item.unknown_submits > 1 else JobState.PENDING
            await self._rules.wait_for_peer(item, failure, state, extra=not_started)
            return
        if failure.reason == Reason.PROVIDER_THROTTLED:
            if not self._throttled_too_long(item):
                await self._throttled(item, failure, not_started)
                return
            await self._leases.throttles.refused(item.provider, item.job.id)
        if failure.transient:
            await self._rules.retry_later(item, failure, JobState.PENDING, extra=not_started)
            return
        await self._rules.fallback(item, JobError(failure.reason, failure.message, retryable=False))

    def _throttled_too_long(self, item: WorkItem) -> bool:
        """Past `max_throttled_seconds` of 429s the provider counts as down (step attempts, then the next)."""
        if item.throttled_since is None:
            return False
        waited = (datetime.now(UTC) - item.throttled_since).total_seconds()
        return waited > self._policy.max_throttled_seconds

    async def _throttled(self, item: WorkItem, failure: CallFailed, not_started: Mapping[str, Any]) -> None:
        """A 429 says our rate there is too high, not that this job is at fault: every replica holds back
        submissions to the provider for a while (a shared not_before), and the job waits its turn again
        without spending a step attempt or falling back, for at most `max_throttled_seconds`."""
        wait = failure.retry_after if failure.retry_after is not None else self._policy.throttle_wait_seconds
        # Afterwards, one submission per pace for a while: the wait it asked for says when one more is
        # welcome, not that a burst is.
        pace = max(wait, self._policy.throttle_wait_seconds)
        await self._leases.throttles.throttled(item.provider, item.job.id, wait, pace)
        await self._leases.apply(
            item,
            Transition(
                JobState.PENDING,
                {**not_started, "throttled_since": item.throttled_since or datetime.now(UTC)},
                due_in=wait,
                event="throttled",
                message=f"{item.provider} is rate limiting us; submitting again in {wait:.0f}s",
                detail={"provider": item.provider, "wait_seconds": wait},
            ),
        )

    # -- processing ----------------------------------------------------------------------------------

    async def _poll(self, item: WorkItem) -> None:
        provider_job_id = item.job.provider_job_id or ""
        news = ProviderStatus.from_json(item.provider_news) if item.provider_news else None
        if news is not None and news.state in TERMINAL_GENERATION_STATES:
            status = news  # a verified webhook told us the outcome: no need to ask again
        else:
            try:
                status = await self._providers.status(item.provider, provider_job_id)
            except CallFailed as failure:
                if failure.transient:
                    await self._rules.retry_later(item, failure, JobState.PROCESSING)
                else:
                    await self._rules.fallback(item, JobError(failure.reason, failure.message), cancel=True)
                return
        item.log.info("provider status mapped", state=status.state)
        if status.state in ("QUEUED", "RUNNING", "STATE_UNSPECIFIED"):
            values = {"poll_count": item.poll_count + 1, "step_attempts": 0, "provider_news": None}
            normal = await self._poll_delay(item, item.poll_count + 1)
            due = self._safety_net(item, provider_job_id, normal)
            if await self._leases.apply(item, Transition(JobState.PROCESSING, values, due_in=due)):
                await self._follow_stream(item, provider_job_id, normal, due)
        elif status.state == "SUCCEEDED":
            await self._record_generation_time(item)
            # When a webhook told us, the completion lag counts from its arrival; after a poll, from the
            # FINALIZING state this step writes (metrics.py).
            arrived = (item.provider_news or {}).get("seen_time") if news is status else None
            seen = {"seen_time": arrived} if arrived else {}
            if status.inline_video:
                stored = await self._store_inline(item, status)
                if stored is None:
                    return
                status = stored
            await self._leases.apply(
                item,
                Transition(
                    JobState.FINALIZING,
                    {"provider_result": {**status.to_json(), **seen}, "step_attempts": 0},
                    event="state_changed",
                    message=f"{item.provider} finished; storing the video",
                    detail={"outputs": len(status.output_uris), "polls": item.poll_count + 1},
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
            await self._rules.finish(item, JobState.CONTENT_VIOLATION, error, refund=False)
        else:  # FAILED, or CANCELLED by the provider
            error = JobError(
                status.error_code or f"PROVIDER_{status.state}",
                status.error_message or f"{item.provider} reported {status.state}",
                True,
            )
            if status.state == "FAILED" and status.retryable:
                await self._rules.retry_provider(item, error)
            else:
                await self._rules.fallback(item, error)

    async def _store_inline(self, item: WorkItem, status: ProviderStatus) -> ProviderStatus | None:
        """A video the provider returned in its answer goes into the job's own output prefix at once (it
        never enters the database); FINALIZING then treats it like any output written there. None when the
        upload failed (this step is retried, or the next provider tried)."""
        key = f"incoming/{item.job.id}/inline.mp4"
        try:
            stored = await self._storage.upload_video(status.inline_video, key, status.inline_mime_type)
        except CallFailed as failure:
            if failure.transient:
                await self._rules.retry_later(item, failure, JobState.PROCESSING)
            else:
                await self._unusable_output(item, failure)
            return None
        item.log.info("inline output stored", uri=stored.uri, size_bytes=stored.size_bytes)
        return dataclasses.replace(status, output_uris=(stored.uri,), inline_video=b"")

    # -- finalizing ----------------------------------------------------------------------------------

    async def _finalize(self, item: WorkItem) -> None:
        result = ProviderStatus.from_json(item.provider_result or {"state": "SUCCEEDED"})
        try:
            stored_uri, leftovers = await self._store_video(item, result)
            video = await self._storage.probe(stored_uri)
            thumbnail_uri, thumbnail_failed = await self._thumbnail(item, stored_uri)
            await self._storage.delete(leftovers)
        except CallFailed as failure:
            if failure.transient:
                await self._rules.retry_later(item, failure, JobState.FINALIZING)
            else:
                await self._unusable_output(item, failure)
            return
        values: dict[str, Any] = {
            "video_uri": stored_uri,
            "thumbnail_uri": thumbnail_uri,
            "video": _video_json(video),
            # A new attempt's thumbnail starts with a fresh bound of background tries.
            "thumbnail_attempts": 0,
            "thumbnail_error": thumbnail_failed,
        }
        message, detail = "video stored", {}
        if thumbnail_failed is not None:
            message = "video stored; no thumbnail yet (it is made again in the background)"
            detail = {"thumbnail_error": thumbnail_failed}
        done = await self._leases.apply(
            item,
            Transition(
                JobState.COMPLETED,
                values,
                due_in=None,
                event="state_changed",
                message=message,
                detail=detail,
            ),
        )
        if done is None:
            current = await self._leases.current(item.job.id)
            if current is not None and current.state is JobState.CANCELLED:
                # A late success after a cancel stores nothing.
                await self._storage.delete([uri for uri in (stored_uri, thumbnail_uri) if uri])
            return
        item.log.info("upload completed", video_uri=stored_uri, size_bytes=video.size_bytes)

    async def _thumbnail(self, item: WorkItem, video_uri: str) -> tuple[str | None, str | None]:
        """(thumbnail URI, None), or (None, why) when it could not be made: a job that has its video is not
        failed for its thumbnail; the backfill (job_service/thumbnails.py) makes it later."""
        try:
            return (await self._storage.thumbnail(video_uri, thumbnail_key(item))).uri, None
        except CallFailed as failure:
            item.log.warning(
                "thumbnail failed; completing without it", code=failure.code, reason=failure.reason
            )
            return None, failure.summary

    async def _unusable_output(self, item: WorkItem, failure: CallFailed) -> None:
        """The provider said it succeeded but gave nothing we can store (missing, not a video, too large,
        refused to be fetched). Retryable on the next provider, after removing what this run wrote.

        Unless storage refused the key we chose: that is our fault, the same on every provider, so the job
        fails at once (quota given back) instead of paying the next provider for the same refusal."""
        if failure.code == "INVALID_ARGUMENT" and "destination_key" in failure.fields:
            item.log.error("storage refused our own object key", detail=failure.message)
            error = JobError(
                "STORAGE_KEY_REFUSED", "the video could not be stored under this job's key", False
            )
            await self._rules.fail(item, error)
            return
        try:
            await self._storage.delete(
                [self.destination(video_key(item)), self.destination(thumbnail_key(item))]
            )
        except CallFailed as cleanup:
            await self._rules.retry_later(item, cleanup, JobState.FINALIZING)
            return
        if failure.code == "NOT_FOUND":
            code = "OUTPUT_MISSING"
        elif failure.reason == Reason.NOT_A_VIDEO:
            code = "OUTPUT_NOT_A_VIDEO"
        else:
            code = "OUTPUT_UNUSABLE"
        message = f"{item.provider} reported success, but its output is unusable: {failure.message}"
        await self._rules.fallback(item, JobError(code, message, retryable=True))

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
        item.log.info("upload started", source=source)
        stored = await self._storage.relocate(
            source, video_key(item), delete_source=source.startswith("gs://"), headers=headers
        )
        return stored.uri, leftovers


def _video_json(video: VideoInfo) -> dict[str, Any]:
    return dataclasses.asdict(video)


def _asked(effective: EffectiveSpec) -> str:
    """e.g. "fal-ai/kling-video/v2.1/master/text-to-video, 10 s, 16:9"."""
    return ", ".join(
        part
        for part in (
            effective.model,
            f"{effective.duration_seconds} s",
            effective.aspect_ratio or "as the image",
        )
        if part
    )

"""Job metrics of one job_service process (API, worker or both), for Prometheus.

Each process has its own registry (several services share a process in tests and in `videojobs up`) and,
when VIDEOJOBS_METRICS_PORT is set, its own /metrics port. Labels are bounded: states, provider names,
gRPC codes and call names, never job or user ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from job_service.domain import CreateReason, JobState
from videojobs.contract import PROVIDERS
from videojobs.errors import Unavailable
from videojobs.logs import get_logger

if TYPE_CHECKING:
    from job_service.lease_queries import LeaseQueries, Transition, WorkItem
    from job_service.outbox_queries import OutboxQueries

log = get_logger(__name__)

# From a few seconds (sim) to the one-hour job deadline.
_JOB_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Storing a large video can take minutes.
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class JobMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_created = Counter(
            "videojobs_jobs_created",
            "CreateJob calls by result: created, replayed (same key) or duplicate (no key, same spec).",
            ["result"], registry=r,
        )  # fmt: skip
        self.jobs_finished = Counter(
            "videojobs_jobs_finished", "Jobs that reached a terminal state, by state and last provider.",
            ["state", "provider"], registry=r,
        )  # fmt: skip
        self.job_duration = Histogram(
            "videojobs_job_duration_seconds", "Time from create to the terminal state (this attempt's end).",
            ["state"], buckets=_JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.state_duration = Histogram(
            "videojobs_job_state_seconds", "Time a job spent in a state, observed when it leaves it.",
            ["state"], buckets=_JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.completion_lag = Histogram(
            "videojobs_completion_lag_seconds",
            "From seeing the provider's success (the poll that saw it, or the webhook's arrival) to "
            "COMPLETED being written: storing, probing, the thumbnail, and any wait for a worker.",
            ["provider"], buckets=_LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.provider_calls = Histogram(
            "videojobs_provider_call_seconds", "ProviderService calls by provider and call, errors included.",
            ["provider", "call"], buckets=_CALL_BUCKETS, registry=r,
        )  # fmt: skip
        self.provider_errors = Counter(
            "videojobs_provider_call_errors", "Failed ProviderService calls by provider, call and gRPC code.",
            ["provider", "call", "code"], registry=r,
        )  # fmt: skip
        self.peer_unavailable = Counter(
            "videojobs_peer_unavailable", "Calls our own services left unanswered (the job waits), by "
            "service and call; counted here, not as the provider's errors.",
            ["peer", "call"], registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "videojobs_fallbacks", "Moves to the next provider, by the provider left and the one tried next.",
            ["from_provider", "to_provider"], registry=r,
        )  # fmt: skip
        self.content_violations = Counter(
            "videojobs_content_violations", "Jobs refused by a provider's content policy.",
            ["provider"], registry=r,
        )  # fmt: skip
        self.leases_lost = Counter(
            "videojobs_leases_lost",
            "Steps whose write matched no row: the lease lapsed and another replica took the job, or the job "
            "was cancelled meanwhile.",
            registry=r,
        )
        self.due_jobs = Gauge(
            "videojobs_due_jobs", "Jobs due for a step and not held by any worker (sampled).", registry=r
        )
        self.oldest_due = Gauge(
            "videojobs_oldest_due_seconds", "How long the longest-waiting due job has waited (sampled).",
            registry=r,
        )  # fmt: skip
        self.waiting_jobs = Gauge(
            "videojobs_waiting_jobs", "PENDING jobs due for submission, not claimed, per provider (sampled).",
            ["provider"], registry=r,
        )  # fmt: skip
        self.oldest_waiting = Gauge(
            "videojobs_oldest_waiting_seconds", "How long the oldest of them has waited (sampled).",
            ["provider"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "videojobs_in_flight_jobs",
            "Jobs holding a slot at their provider: claimed to submit, SUBMITTING or PROCESSING (sampled).",
            ["provider"], registry=r,
        )  # fmt: skip
        self.throttles = Counter(
            "videojobs_provider_throttles", "Submissions answered 429 (the provider is paused for all).",
            ["provider"], registry=r,
        )  # fmt: skip
        self.status_streams = Gauge(
            "videojobs_status_streams_open",
            "Provider status streams this replica follows now (at most VIDEOJOBS_STATUS_STREAMS).",
            ["provider"], registry=r,
        )  # fmt: skip
        self.status_stream_results = Counter(
            "videojobs_status_stream_results",
            "Followed status streams by result: finished (the provider's completion seen on the stream), "
            "failed (the stream broke or could not be opened; polls go on), gone (the job moved on first).",
            ["provider", "result"], registry=r,
        )  # fmt: skip
        self.swept_objects = Counter(
            "videojobs_swept_objects", "Objects the orphan sweep deleted, by kind.", ["kind"], registry=r
        )

        self.retention_deleted = Counter(
            "videojobs_retention_deleted", "What periodic retention removed: objects, expired, purged jobs.",
            ["what"], registry=r,
        )  # fmt: skip
        self.thumbnails_backfilled = Counter(
            "videojobs_thumbnails_backfilled",
            "Background tries at the missing thumbnail of a completed job, by result: made, failed, skipped.",
            ["result"], registry=r,
        )  # fmt: skip

        self.webhook_deliveries = Counter(
            "videojobs_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later) or failed "
            "(given up, or the endpoint is gone).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.webhook_queue = Gauge(
            "videojobs_webhook_queue", "Webhook deliveries not yet delivered or failed (sampled).", registry=r
        )
        self.webhook_oldest = Gauge(
            "videojobs_webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery not yet delivered or failed (sampled).",
            registry=r,
        )

    def webhook_attempted(self, delivered: bool, retrying: bool) -> None:
        outcome = "delivered" if delivered else ("retry" if retrying else "failed")
        self.webhook_deliveries.labels(outcome).inc()

    def created(self, reason: CreateReason) -> None:
        self.jobs_created.labels(reason.value).inc()

    def step_applied(self, before: WorkItem, transition: Transition, after: WorkItem | None) -> None:
        """What one applied step says: state changes, fallbacks and terminal outcomes."""
        if after is None:
            self.leases_lost.inc()
            return
        state = after.job.state
        if state != before.job.state:
            spent = (after.state_time - before.state_time).total_seconds()
            self.state_duration.labels(before.job.state.value).observe(max(spent, 0.0))
        if transition.event == "fallback":
            self.fallbacks.labels(before.provider, after.provider).inc()
        if transition.event == "throttled":
            self.throttles.labels(before.provider).inc()
        if state is JobState.COMPLETED and before.job.state is JobState.FINALIZING:
            self.completion_lag.labels(before.provider).observe(_completion_lag(before, after))
        if state.terminal:
            self.finished(state, before.provider, after.job.create_time, after.job.end_time)

    def finished(self, state: JobState, provider: str, created: Any, ended: Any) -> None:
        self.jobs_finished.labels(state.value, provider).inc()
        if created is not None and ended is not None:
            self.job_duration.labels(state.value).observe(max((ended - created).total_seconds(), 0.0))
        if state is JobState.CONTENT_VIOLATION:
            self.content_violations.labels(provider).inc()

    @asynccontextmanager
    async def provider_call(self, provider: str, call: str) -> AsyncIterator[None]:
        """Times the call; a failure counts by its gRPC code (the exception's `code`), unless it was
        provider_service itself that did not answer (the exception's `peer`): that is our outage, not the
        provider's, and must not page whoever watches the providers."""
        start = time.perf_counter()
        try:
            yield
        except Exception as error:
            peer = getattr(error, "peer", "")
            if peer:
                self.peer_unavailable.labels(peer, call).inc()
            else:
                self.provider_errors.labels(provider, call, getattr(error, "code", "UNKNOWN")).inc()
            raise
        finally:
            self.provider_calls.labels(provider, call).observe(time.perf_counter() - start)

    async def sample_queue(
        self,
        leases: LeaseQueries,
        interval: float,
        stopping: asyncio.Event,
        webhooks: OutboxQueries | None = None,
    ) -> None:
        """Refresh the due-queue gauges (and the webhook outbox's) every `interval` seconds (a scrape never
        waits on the database)."""
        while not stopping.is_set():
            try:
                depth, oldest = await leases.due_queue()
                if webhooks is not None:
                    pending, pending_age = await webhooks.queue()
                    self.webhook_queue.set(pending)
                    self.webhook_oldest.set(pending_age)
            except Unavailable:  # a gauge is never worth a crash; try again next round
                log.warning("cannot sample the due queue: database unavailable")
            else:
                self.due_jobs.set(depth)
                self.oldest_due.set(oldest)
            try:
                backlog = await leases.limits.backlog()
            except Unavailable:
                log.warning("cannot sample the provider backlog: database unavailable")
            else:
                for provider in PROVIDERS:
                    waiting, oldest_waiting, in_flight = backlog.get(provider, (0, 0.0, 0))
                    self.waiting_jobs.labels(provider).set(waiting)
                    self.oldest_waiting.labels(provider).set(oldest_waiting)
                    self.in_flight.labels(provider).set(in_flight)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)


def _completion_lag(before: WorkItem, after: WorkItem) -> float:
    """Seconds from seeing the provider's success to COMPLETED: from the webhook's arrival if one told us
    (`seen_time`, kept in provider_result), else from entering FINALIZING (the poll that saw it). Both times
    are the database's."""
    seen = before.state_time
    stamp = (before.provider_result or {}).get("seen_time")
    if isinstance(stamp, str):
        seen = min(seen, datetime.fromisoformat(stamp))
    return max((after.state_time - seen).total_seconds(), 0.0)


def serve_metrics(metrics: JobMetrics, host: str, port: int) -> WSGIServer:
    """/metrics on its own port, in a daemon thread (prometheus-client's own server)."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server

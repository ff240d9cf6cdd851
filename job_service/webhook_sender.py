"""The webhook senders: claim due deliveries from the outbox, send each once (signed, with a timeout, through
the SSRF-safe fetcher, never following a redirect), and record the attempt: delivered on 2xx; otherwise
retried with exponential backoff for about a day, then failed. 410 Gone disables the endpoint.

Runs in every worker replica beside the job worker; replicas coordinate only through SKIP LOCKED claims and
leases (outbox_queries). A replica that dies mid-send leaves a lease that lapses, and the delivery is sent
again with the same webhook-id: at least once, and receivers deduplicate by that id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from job_service import convert
from job_service.claim_loop import ClaimLoop, LoopOptions, lease_kept
from job_service.domain import Job, webhook_id
from job_service.metrics import JobMetrics
from job_service.outbox_queries import Claimed, OutboxQueries, Outcome
from job_service.webhook_signing import SecretBox, signature_header
from videojobs import errors
from videojobs.backoff import shortened_jitter
from videojobs.job_json import job_json
from videojobs.logs import get_logger
from videojobs.safe_fetch import SafeFetcher

log = get_logger(__name__)

SignUrls = Callable[[list[Job]], Awaitable[list[Job]]]
USER_AGENT = "videojobs-webhooks/1"


@dataclass(frozen=True)
class SenderOptions:
    """The webhook_* settings (their defaults are in settings.py)."""

    concurrency: int
    timeout_seconds: float
    retry_base_seconds: float
    retry_max_seconds: float
    max_attempts: int
    disable_after: timedelta
    lease_seconds: float
    poll_seconds: float
    response_max_bytes: int


def payload(claimed: Claimed, job: Job) -> dict[str, Any]:
    """Standard Webhooks' envelope: `type`, `timestamp` (of the event) and `data`, the job as
    `GET /v1/videos/{id}` shows it now; `sequence` orders a job's events and `state` is the one this event
    reports (the job may have moved on by the time a retry is sent)."""
    return {
        "type": claimed.event_type,
        "timestamp": claimed.event_time.isoformat(),
        "sequence": claimed.sequence,
        "state": claimed.event_state.value,
        "data": job_json(convert.job_to_proto(job)),
    }


@dataclass(frozen=True, eq=False)  # a live service: compared by identity, its parts fixed
class WebhookSender:
    queries: OutboxQueries
    fetcher: SafeFetcher
    box: SecretBox
    sign_urls: SignUrls
    options: SenderOptions
    metrics: JobMetrics

    async def run(self, stopping: asyncio.Event) -> None:
        options = self.options
        # A send is bounded by its own timeout, so stopping waits that long for those in flight.
        loop: ClaimLoop[Claimed] = ClaimLoop(
            LoopOptions("webhook sender", options.concurrency, options.poll_seconds, options.timeout_seconds),
            claim=lambda free: self.queries.claim(free, options.lease_seconds),
            handle=self._deliver,
            task_name=lambda item: f"webhook-{item.delivery_id}",
        )
        await loop.run(stopping)

    async def _deliver(self, claimed: Claimed) -> None:
        try:
            async with lease_kept(
                lambda: self.queries.renew(claimed, self.options.lease_seconds),
                self.options.lease_seconds / 3,
            ):
                try:
                    outcome = await self._attempt(claimed)
                except Exception as error:  # a bug or a database hiccup must not lose the delivery: retry it
                    log.exception("webhook delivery crashed", delivery_id=str(claimed.delivery_id))
                    outcome = self._failed(claimed, None, f"internal error: {type(error).__name__}", 0.0)
                disabled = await self.queries.record(claimed, outcome, self.options.disable_after)
        except errors.Unavailable:
            log.warning(
                "cannot record a webhook attempt; it is sent again", delivery_id=str(claimed.delivery_id)
            )
            return
        self.metrics.webhook_attempted(outcome.delivered, outcome.retry_in is not None)
        if disabled is not None:
            log.warning("webhook endpoint disabled", endpoint_id=str(claimed.endpoint_id), reason=disabled)

    async def _attempt(self, claimed: Claimed) -> Outcome:
        job = (await self.sign_urls([claimed.job]))[0]
        body = json.dumps(payload(claimed, job), separators=(",", ":")).encode()
        message_id = webhook_id(claimed.delivery_id)
        timestamp = int(time.time())
        secrets = [self.box.open(sealed) for sealed in claimed.sealed_secrets]
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, message_id, timestamp, body),
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.timeout_seconds):
                status, _answer = await self.fetcher.post(
                    claimed.url, headers, body, body_limit=self.options.response_max_bytes
                )
        except TimeoutError:
            error = f"no answer within {self.options.timeout_seconds:g} s"
            return self._failed(claimed, None, error, time.perf_counter() - started)
        except errors.ServiceError as failure:  # refused by the SSRF checks, unreachable, TLS
            return self._failed(claimed, None, failure.message, time.perf_counter() - started)
        latency = time.perf_counter() - started
        log.info(
            "webhook sent",
            delivery_id=str(claimed.delivery_id),
            endpoint_id=str(claimed.endpoint_id),
            status=status,
            attempt=claimed.attempt,
        )
        if 200 <= status < 300:
            return Outcome(status, "", latency, delivered=True, retry_in=None)
        if status == 410:
            return Outcome(status, "410 Gone", latency, delivered=False, retry_in=None, gone=True)
        return self._failed(claimed, status, f"answered {status}", latency)

    def _failed(self, claimed: Claimed, status: int | None, error: str, latency: float) -> Outcome:
        options = self.options
        retry_in = None
        if claimed.attempt < options.max_attempts:
            retry_in = shortened_jitter(
                claimed.attempt, base=options.retry_base_seconds, cap=options.retry_max_seconds
            )
        return Outcome(status, error, latency, delivered=False, retry_in=retry_in)

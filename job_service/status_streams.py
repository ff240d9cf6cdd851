"""Seeing a provider finish at once without webhooks: follow its status stream (fal) for jobs in flight.

Each worker replica follows at most `capacity` streams, one per job, through provider_service's
AwaitGeneration. The replica that submits or polls a job starts following it if there is room. The stream is
only a trigger: when it says the generation finished, the job is made due now (a conditional UPDATE on its
state and provider job) and the worker woken, so the usual poll step sees the outcome and finalizes (one
path for every outcome).

While a stream is followed, the orchestrator polls only as a safety net (every `poll_max_seconds`), and the
stream hands the job back to its normal schedule when it ends without a finish (it broke, could not be opened,
or provider_service went away): the job is then due when its normal poll would have been, or now if that time
has passed, and the next poll follows the stream again. Due at the normal time rather than at once, so a
stream that fails as soon as it opens costs no more polls than having none. A full replica takes no stream and
the job keeps its normal schedule. A replica that dies with its streams leaves their jobs due at the safety
net's time, when any replica claims them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from job_service.lease_queries import LeaseQueries
from job_service.metrics import JobMetrics
from job_service.peers import CallFailed, ProviderClient
from videojobs.errors import Unavailable
from videojobs.logs import get_logger

log = get_logger(__name__)

# Providers whose status provider_service can follow as a stream.
STREAMING_PROVIDERS = frozenset({"fal"})


@dataclass(frozen=True)
class StreamOptions:
    # From status_streams and status_stream_max_wait_seconds (their defaults are in settings.py).
    capacity: int
    # One AwaitGeneration follows the stream this long; then, if the job still waits there, another.
    max_wait_seconds: float
    # While a step holds the job, asking again this often to make it due (at most a lease's length).
    busy_retry_seconds: float = 0.05
    busy_max_seconds: float = 30.0


@dataclass(eq=False)  # a live service: compared by identity
class StatusStreams:
    providers: ProviderClient
    leases: LeaseQueries
    wake: Callable[[], None]
    options: StreamOptions
    metrics: JobMetrics = field(default_factory=JobMetrics)
    _following: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict, init=False, repr=False)
    # When each followed job's normal schedule would poll it next (event loop time): its due time should the
    # stream end without a finish.
    _normal_poll: dict[uuid.UUID, float] = field(default_factory=dict, init=False, repr=False)

    @property
    def open(self) -> int:
        return len(self._following)

    def can_follow(self, job_id: uuid.UUID, provider: str, provider_job_id: str) -> bool:
        """Whether `follow` would follow the job now: it is followed already, or its provider has a stream and
        there is room."""
        if provider not in STREAMING_PROVIDERS or not provider_job_id:
            return False
        return job_id in self._following or len(self._following) < self.options.capacity

    def follow(self, job_id: uuid.UUID, provider: str, provider_job_id: str, poll_in: float) -> bool:
        """Start following the job's stream if its provider has one and there is room; True if followed.
        `poll_in`: seconds until the normal schedule's next poll, when the job falls due if the stream ends
        without a finish."""
        if not self.can_follow(job_id, provider, provider_job_id):
            return False
        self._normal_poll[job_id] = asyncio.get_running_loop().time() + poll_in
        if job_id in self._following:
            return True
        task = asyncio.create_task(self._follow(job_id, provider, provider_job_id), name=f"stream-{job_id}")
        self._following[job_id] = task
        self.metrics.status_streams.labels(provider).inc()

        def ended(_: asyncio.Task[None]) -> None:
            if self._following.get(job_id) is task:
                del self._following[job_id]
                del self._normal_poll[job_id]
            self.metrics.status_streams.labels(provider).dec()

        task.add_done_callback(ended)
        return True

    async def _follow(self, job_id: uuid.UUID, provider: str, provider_job_id: str) -> None:
        results = self.metrics.status_stream_results
        try:
            while not await self.providers.await_finished(
                provider, provider_job_id, self.options.max_wait_seconds
            ):
                if not await self.leases.still_processing(job_id, provider_job_id):
                    results.labels(provider, "gone").inc()
                    return
            if await self._make_due(job_id, provider_job_id, finished=True):
                results.labels(provider, "finished").inc()
                self.wake()
            else:
                results.labels(provider, "gone").inc()
        except (CallFailed, Unavailable) as failure:
            results.labels(provider, "failed").inc()
            log.info("status stream ended early", job_id=str(job_id), provider=provider, error=str(failure))
            await self._back_to_schedule(job_id, provider_job_id)

    async def _back_to_schedule(self, job_id: uuid.UUID, provider_job_id: str) -> None:
        """Undo the safety net's long wait: the job is due at its normal poll (now if that has passed), and
        the next poll follows the stream again. Without the database, the safety net's poll still comes."""
        try:
            if await self._make_due(job_id, provider_job_id, finished=False):
                self.wake()
        except Unavailable as failure:
            log.warning("job left to its safety-net poll", job_id=str(job_id), error=str(failure))

    async def _make_due(self, job_id: uuid.UUID, provider_job_id: str, *, finished: bool) -> bool:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.options.busy_max_seconds
        while True:
            # Read at each try: a step that held the job meanwhile has set its next normal poll.
            due_in = 0.0 if finished else max(self._normal_poll[job_id] - loop.time(), 0.0)
            news = await self.leases.due_within(job_id, provider_job_id, due_in)
            if news != "busy":
                return news == "due"
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(self.options.busy_retry_seconds)

    async def aclose(self) -> None:
        tasks = list(self._following.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

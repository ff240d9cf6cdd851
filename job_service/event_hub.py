"""One LISTEN connection per process, fanning job events out to every watcher and waking idle workers.

The job_events trigger NOTIFYs "<job id> <event id> <type>" on each insert. For a job somebody watches,
the hub reads the new events once and hands them to all of that job's watchers, so a hundred watchers
cost one query per event, and none of them ever causes a provider call.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg

from job_service.domain import JobEvent
from job_service.job_queries import JobQueries
from videojobs.logs import get_logger

log = get_logger(__name__)

CHANNEL = "job_events"
# Events that may make a job due now: an idle worker should look at once rather than at its next tick.
# ('created' is not notified at all: see the job_events_notify trigger in migration 0002.)
WAKE_TYPES = frozenset({"retried", "provider_event", "fallback"})

Decorate = Callable[[JobEvent], Awaitable[JobEvent]]


class EventHub:
    def __init__(self, dsn: str, queries: JobQueries, decorate: Decorate | None = None) -> None:
        self._dsn = dsn
        self._queries = queries
        # Applied once per event before fan-out (e.g. signing URLs of a completed job).
        self.decorate = decorate
        self._watchers: dict[uuid.UUID, set[asyncio.Queue[JobEvent]]] = defaultdict(set)
        self._delivered: dict[uuid.UUID, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        # Set when work may be due; workers clear it before they claim.
        self.work_available = asyncio.Event()

    async def start(self, wait_seconds: float = 5.0) -> None:
        """Start listening; wait a little for the connection, but start anyway if the database is down
        (RPCs then answer UNAVAILABLE, and the listener keeps reconnecting)."""
        self._task = asyncio.create_task(self._run(), name="event-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), timeout=wait_seconds)

    def note_seen(self, job_id: uuid.UUID, sequence: int) -> None:
        """A watcher has read the job up to `sequence`; after a reconnect the hub resumes from there."""
        self._delivered.setdefault(job_id, sequence)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[JobEvent]]:
        """Events of one job from now on. Subscribe before reading the current state, so none is missed."""
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._watchers[job_id].add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers.get(job_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[job_id]
                    self._delivered.pop(job_id, None)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.1
                    # After a reconnect anything may have happened: let watchers and workers catch up.
                    self.work_available.set()
                    for job_id in list(self._watchers):
                        await self._deliver(job_id, None)
                    async for notice in conn.notifies():
                        await self._on_notice(notice.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as error:
                log.warning("event listener lost its connection; reconnecting", error=str(error))
                self.listening.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_notice(self, payload: str) -> None:
        try:
            job_text, event_text, kind = payload.split(" ", 2)
            job_id, event_id = uuid.UUID(job_text), int(event_text)
        except ValueError:
            log.warning("ignoring a malformed job event notice", payload=payload)
            return
        if kind in WAKE_TYPES:
            self.work_available.set()
        if job_id in self._watchers:
            await self._deliver(job_id, event_id)

    async def _deliver(self, job_id: uuid.UUID, event_id: int | None) -> None:
        after = self._delivered.get(job_id)
        if after is None:
            if event_id is None:
                return  # nothing delivered yet: the watcher's own catch-up covers it
            after = event_id - 1
        try:
            events = await self._queries.events_after(job_id, after)
        except Exception:
            log.warning("could not read job events", job_id=str(job_id), exc_info=True)
            return
        for event in events:
            if self.decorate is not None:
                event = await self.decorate(event)
            for queue in self._watchers.get(job_id, ()):
                queue.put_nowait(event)
            self._delivered[job_id] = event.sequence

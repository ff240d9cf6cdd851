"""Periodic upkeep inside worker processes: the orphan sweep, retention and the thumbnail backfill, each
run by one replica at a time.

Every replica wakes up on each task's interval and tries that task's session-level advisory lock; the one
that gets it runs a round, the others skip it. A round works one bounded batch, so a huge backlog is worked
off over several rounds instead of in one long run holding the lock. The admin CLI takes the same locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from job_service.maintenance_queries import MaintenanceQueries
from job_service.metrics import JobMetrics
from job_service.retention import Retention, RetentionReport
from job_service.sweep import Sweeper, SweepReport
from job_service.thumbnails import BackfillReport, Outcome, ThumbnailBackfill
from videojobs.logs import get_logger

log = get_logger(__name__)

# Any constants work; they only have to be the same for every replica (and the admin CLI).
SWEEP_LOCK_ID = 0x766A7377  # "vjsw"
RETENTION_LOCK_ID = 0x766A7274  # "vjrt"
THUMBNAIL_LOCK_ID = 0x766A7468  # "vjth"


class UpkeepBusy(Exception):
    """Another replica (or an operator) is running this task right now."""


@asynccontextmanager
async def exclusive(queries: MaintenanceQueries, lock_id: int, what: str) -> AsyncIterator[None]:
    async with queries.exclusive(lock_id) as held:
        if not held:
            raise UpkeepBusy(f"{what} is already running elsewhere")
        yield


async def sweep_once(queries: MaintenanceQueries, sweeper: Sweeper, *, batch: int) -> SweepReport:
    """One sweep that deletes at most `batch` orphans, under the sweep lock."""
    async with exclusive(queries, SWEEP_LOCK_ID, "a sweep"):
        report = await sweeper.find()
        report.deleted = await sweeper.delete(report.orphans[:batch])
    return report


async def retention_once(queries: MaintenanceQueries, retention: Retention, *, batch: int) -> RetentionReport:
    async with exclusive(queries, RETENTION_LOCK_ID, "retention"):
        return await retention.run_batch(batch)


async def thumbnails_once(
    queries: MaintenanceQueries, backfill: ThumbnailBackfill, *, batch: int
) -> BackfillReport:
    async with exclusive(queries, THUMBNAIL_LOCK_ID, "the thumbnail backfill"):
        return await backfill.run_batch(batch)


@dataclass(frozen=True)
class UpkeepOptions:
    """The settings of the same names (their defaults are in settings.py); an interval of 0: off."""

    sweep_interval_seconds: float
    sweep_batch: int
    retention_interval_seconds: float
    retention_batch: int
    thumbnail_interval_seconds: float
    thumbnail_batch: int


@dataclass(frozen=True, eq=False)  # a live service: compared by identity, its parts fixed
class Upkeep:
    queries: MaintenanceQueries
    sweeper: Sweeper
    retention: Retention
    options: UpkeepOptions
    metrics: JobMetrics
    thumbnails: ThumbnailBackfill | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        loops = []
        if self.options.sweep_interval_seconds > 0:
            loops.append(
                self._every(self.options.sweep_interval_seconds, self._sweep, stopping, "orphan sweep")
            )
        if self.options.retention_interval_seconds > 0 and self.retention.policy.active:
            loops.append(
                self._every(self.options.retention_interval_seconds, self._expire, stopping, "retention")
            )
        if self.options.thumbnail_interval_seconds > 0 and self.thumbnails is not None:
            loops.append(
                self._every(
                    self.options.thumbnail_interval_seconds, self._backfill, stopping, "thumbnail backfill"
                )
            )
        await asyncio.gather(*loops)

    async def _every(
        self, interval: float, task: Callable[[], Awaitable[None]], stopping: asyncio.Event, name: str
    ) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
                return
            try:
                await task()
            except UpkeepBusy:
                continue
            except Exception:
                # Upkeep is never urgent: log it and try again next round.
                log.exception("upkeep failed", task=name)

    async def _sweep(self) -> None:
        report = await sweep_once(self.queries, self.sweeper, batch=self.options.sweep_batch)
        deleted = set(report.deleted)
        for orphan in report.orphans:
            if orphan.uri in deleted:
                self.metrics.swept_objects.labels(orphan.kind.value).inc()
        log.info(
            "orphan sweep",
            scanned=report.scanned,
            orphans=len(report.orphans),
            deleted=len(report.deleted),
            missing_videos=len(report.missing_videos),
        )
        for missing in report.missing_videos:
            log.warning("completed job's video is missing", job_id=missing.job_id, uri=missing.video_uri)

    async def _expire(self) -> None:
        report = await retention_once(self.queries, self.retention, batch=self.options.retention_batch)
        self.metrics.retention_deleted.labels("object").inc(len(report.deleted))
        self.metrics.retention_deleted.labels("job_expired").inc(report.expired)
        self.metrics.retention_deleted.labels("job_purged").inc(report.purged)
        if report.expired or report.purged:
            log.info("retention", expired=report.expired, deleted=len(report.deleted), purged=report.purged)

    async def _backfill(self) -> None:
        assert self.thumbnails is not None
        report = await thumbnails_once(self.queries, self.thumbnails, batch=self.options.thumbnail_batch)
        for outcome in Outcome:
            if count := report.count(outcome):
                self.metrics.thumbnails_backfilled.labels(outcome.value).inc(count)
        if report.results:
            log.info(
                "thumbnail backfill",
                made=report.count(Outcome.MADE),
                failed=report.count(Outcome.FAILED),
                skipped=report.count(Outcome.SKIPPED),
            )

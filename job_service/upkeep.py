"""Periodic upkeep inside the worker process: the orphan sweep, run by one replica at a time.

Every replica wakes up on the same interval and tries a session-level advisory lock; the one that gets it
runs, the others skip this round. Each run deletes at most `batch` objects, so a huge backlog is worked off
over several rounds instead of one long run holding the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from job_service.maintenance_queries import MaintenanceQueries
from job_service.metrics import JobMetrics
from job_service.sweep import Sweeper, SweepReport
from videojobs.logs import get_logger

log = get_logger(__name__)

# Any constant works; it only has to be the same for every replica (and the admin CLI).
SWEEP_LOCK_ID = 0x766A7377  # "vjsw"


class SweepBusy(Exception):
    """Another replica (or operator) is sweeping right now."""


@dataclass(frozen=True)
class UpkeepOptions:
    sweep_interval_seconds: float
    sweep_batch: int


async def sweep_once(queries: MaintenanceQueries, sweeper: Sweeper, *, batch: int) -> SweepReport:
    """One sweep that deletes at most `batch` orphans, under the sweep lock; SweepBusy if it is taken."""
    async with queries.exclusive(SWEEP_LOCK_ID) as held:
        if not held:
            raise SweepBusy("a sweep is already running elsewhere")
        report = await sweeper.find()
        report.deleted = await sweeper.delete(report.orphans[:batch])
    return report


class Upkeep:
    def __init__(
        self, queries: MaintenanceQueries, sweeper: Sweeper, options: UpkeepOptions, metrics: JobMetrics
    ) -> None:
        self._metrics = metrics
        self._queries = queries
        self._sweeper = sweeper
        self._options = options

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._options.sweep_interval_seconds)
                return
            try:
                report = await sweep_once(self._queries, self._sweeper, batch=self._options.sweep_batch)
            except SweepBusy:
                continue
            except Exception:
                # A sweep is never urgent: log it and try again next round.
                log.exception("orphan sweep failed")
                continue
            deleted = set(report.deleted)
            for orphan in report.orphans:
                if orphan.uri in deleted:
                    self._metrics.swept_objects.labels(orphan.kind.value).inc()
            log.info(
                "orphan sweep",
                scanned=report.scanned,
                orphans=len(report.orphans),
                deleted=len(report.deleted),
                missing_videos=len(report.missing_videos),
            )
            for missing in report.missing_videos:
                log.warning("completed job's video is missing", job_id=missing.job_id, uri=missing.video_uri)

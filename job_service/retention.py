"""Retention: finished jobs older than VIDEOJOBS_RETENTION_DAYS lose their stored video and thumbnail and are
hidden (exactly as DeleteJob leaves a job: gone from every read, an `expired` event recorded); hidden jobs
(expired or deleted by their owner) older than VIDEOJOBS_PURGE_DAYS are purged with their events.

Hidden rather than listed as "expired": the contract has no such state, and a job listed without its video
would look broken to every client that shows jobs. Outputs are deleted (through StorageService) before the
job is hidden, as DeleteJob does, so a failed deletion leaves a visible job that the next run picks up again.
Work goes in bounded batches, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from job_service.maintenance_queries import ExpiringJob, RetentionQueries
from job_service.peers import StorageClient
from job_service.sweep import delete_in_chunks

# A dry run lists at most this many jobs of each kind (the summary says when there are more).
PLAN_LIMIT = 10_000


@dataclass(frozen=True)
class RetentionPolicy:
    retention_days: float | None
    purge_days: float | None

    @property
    def active(self) -> bool:
        return self.retention_days is not None or self.purge_days is not None


@dataclass
class RetentionReport:
    expiring: list[ExpiringJob] = field(default_factory=list)
    purgeable: int = 0
    deleted: list[str] = field(default_factory=list)
    expired: int = 0
    purged: int = 0


class Retention:
    def __init__(self, queries: RetentionQueries, storage: StorageClient, policy: RetentionPolicy) -> None:
        self._queries = queries
        self._storage = storage
        self.policy = policy

    async def plan(self, limit: int = PLAN_LIMIT) -> RetentionReport:
        """What a run would do now (up to `limit` jobs of each kind); changes nothing."""
        report = RetentionReport()
        if self.policy.retention_days is not None:
            report.expiring = await self._queries.expiring(timedelta(days=self.policy.retention_days), limit)
        if self.policy.purge_days is not None:
            report.purgeable = len(
                await self._queries.purgeable(timedelta(days=self.policy.purge_days), limit)
            )
        return report

    async def run_batch(self, batch: int) -> RetentionReport:
        """Expire at most `batch` jobs and purge at most `batch` rows."""
        report = RetentionReport()
        if self.policy.retention_days is not None:
            report.expiring = await self._queries.expiring(timedelta(days=self.policy.retention_days), batch)
            uris = [uri for job in report.expiring for uri in job.uris]
            report.deleted = await delete_in_chunks(self._storage, uris)
            report.expired = await self._queries.mark_expired(report.expiring, self.policy.retention_days)
        if self.policy.purge_days is not None:
            ids = await self._queries.purgeable(timedelta(days=self.policy.purge_days), batch)
            report.purgeable = len(ids)
            report.purged = await self._queries.purge(ids)
        return report

    async def run_all(self, batch: int, advance: Callable[[int], None] = lambda _: None) -> RetentionReport:
        """Batches until nothing is left (or a batch changes nothing, e.g. every job changed meanwhile)."""
        total = RetentionReport()
        while True:
            report = await self.run_batch(batch)
            total.expiring.extend(report.expiring)
            total.deleted.extend(report.deleted)
            total.expired += report.expired
            total.purged += report.purged
            total.purgeable += report.purgeable
            advance(report.expired + report.purged)
            if report.expired + report.purged == 0:
                return total

"""Thumbnail backfill: completed jobs that have their video but no thumbnail get one made afterwards.

A thumbnail that fails in FINALIZING no longer fails a job that has its video (the orchestrator completes it
without one, `thumbnail_error` kept). This makes it later: the workers' periodic round (upkeep.py) tries a
bounded batch of such jobs, each at most `thumbnail_max_attempts` times in all, so a video that can never be
thumbnailed is not retried forever; `videojobs admin thumbnails --apply` tries every job still missing one,
whatever its count (an operator decided to). Each try is CreateThumbnail on StorageService, which is
idempotent (an existing thumbnail object is returned, not rewritten), then the job row is given the URI.

If the job changed meanwhile (deleted, expired, retried), the row is left alone; a thumbnail object made for
it is then one no live job uses, and the orphan sweep removes it after its grace period.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from job_service.maintenance_queries import MissingThumbnail, ThumbnailQueries
from job_service.peers import CallFailed, StorageClient
from videojobs.identity import key_segment
from videojobs.logs import get_logger

log = get_logger(__name__)

# A dry run lists at most this many jobs (the CLI says when there are more).
PLAN_LIMIT = 10_000


def thumbnail_key(user_id: str, job_id: str) -> str:
    """The same key the orchestrator gives a thumbnail (the bucket layout of docs/api.md)."""
    return f"thumbnails/{key_segment(user_id)}/{job_id}.jpg"


class Outcome(enum.StrEnum):
    MADE = "made"
    FAILED = "failed"
    # The job changed while its thumbnail was being made (deleted, expired, retried): nothing recorded.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Backfilled:
    job: MissingThumbnail
    outcome: Outcome
    thumbnail_uri: str = ""
    error: str = ""


@dataclass
class BackfillReport:
    results: list[Backfilled] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(result.outcome is outcome for result in self.results)


class ThumbnailBackfill:
    def __init__(self, queries: ThumbnailQueries, storage: StorageClient, *, max_attempts: int) -> None:
        self._queries = queries
        self._storage = storage
        self.max_attempts = max_attempts

    async def missing(self, limit: int = PLAN_LIMIT, *, bounded: bool = False) -> list[MissingThumbnail]:
        """Completed jobs without a thumbnail, oldest first; `bounded`: only those with tries left."""
        return await self._queries.missing(limit, max_attempts=self.max_attempts if bounded else None)

    async def run_batch(self, batch: int) -> BackfillReport:
        """The workers' round: at most `batch` jobs that still have tries left, each tried once."""
        return await self.make(await self.missing(batch, bounded=True))

    async def make(
        self, jobs: Sequence[MissingThumbnail], advance: Callable[[int], None] = lambda _: None
    ) -> BackfillReport:
        report = BackfillReport()
        for job in jobs:
            report.results.append(await self._make_one(job))
            advance(1)
        return report

    async def _make_one(self, job: MissingThumbnail) -> Backfilled:
        try:
            stored = await self._storage.thumbnail(job.video_uri, thumbnail_key(job.user_id, str(job.id)))
        except CallFailed as failure:
            error = failure.summary
            await self._queries.failed(job, error)
            log.warning(
                "thumbnail backfill failed", job_id=str(job.id), attempts=job.attempts + 1, error=error
            )
            return Backfilled(job, Outcome.FAILED, error=error)
        if not await self._queries.record(job, stored.uri):
            return Backfilled(job, Outcome.SKIPPED, thumbnail_uri=stored.uri)
        log.info("thumbnail backfilled", job_id=str(job.id), thumbnail_uri=stored.uri)
        return Backfilled(job, Outcome.MADE, thumbnail_uri=stored.uri)

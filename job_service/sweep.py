"""The orphan sweep: objects in the bucket that no live job needs, and live jobs whose video is gone.

- `incoming/{job}/...`: a provider's raw output. Once the job is terminal (or gone) nothing reads it again;
  older than the grace period, it is an orphan (Veo runs that were cancelled, hit the deadline or fell back).
- `videos/{user}/{job}.mp4`, `thumbnails/{user}/{job}.jpg`: orphans when no live job of that user has that
  id, or when the job is terminal and does not point at them (a relocation whose job then failed). `{user}`
  is the user's `key_segment` (videojobs.identity), never the raw id, exactly as the orchestrator names it.
  Not the thumbnail of a COMPLETED job that has none recorded: the thumbnail backfill (thumbnails.py)
  records it.
- A live COMPLETED job whose stored video is missing is reported, never "fixed": its row is the record
  an operator needs to decide what to do.

The grace period also covers clock skew and a finalization running right now. Objects are listed through
StorageService.ListObjects and deleted through DeleteObjects, never through the bucket directly.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from job_service.domain import JobState, ListedObject
from job_service.maintenance_queries import JobOutputs, MaintenanceQueries
from job_service.peers import StorageClient
from videojobs.identity import key_segment

# At most this many URIs per DeleteObjects call (StorageService's own limit is 1000).
DELETE_CHUNK = 500
LIST_PAGE_SIZE = 1000


class OrphanKind(enum.StrEnum):
    INCOMING = "incoming"
    VIDEO = "video"
    THUMBNAIL = "thumbnail"


PREFIXES = {
    OrphanKind.INCOMING: "incoming/",
    OrphanKind.VIDEO: "videos/",
    OrphanKind.THUMBNAIL: "thumbnails/",
}
_SUFFIXES = {OrphanKind.VIDEO: ".mp4", OrphanKind.THUMBNAIL: ".jpg"}


@dataclass(frozen=True)
class Orphan:
    kind: OrphanKind
    uri: str
    reason: str
    job_id: str


@dataclass(frozen=True)
class MissingVideo:
    job_id: str
    video_uri: str


@dataclass
class SweepReport:
    scanned: int = 0
    orphans: list[Orphan] = field(default_factory=list)
    missing_videos: list[MissingVideo] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _job_id(kind: OrphanKind, name: str) -> tuple[uuid.UUID | None, str | None]:
    """The job an object is named after, and the user's key segment (None for incoming/), from its key."""
    parts = name.split("/")
    try:
        if kind is OrphanKind.INCOMING:
            return (uuid.UUID(parts[1]), None) if len(parts) >= 3 else (None, None)
        if len(parts) == 3 and parts[2].endswith(_SUFFIXES[kind]):
            return uuid.UUID(parts[2].removesuffix(_SUFFIXES[kind])), parts[1]
    except ValueError:
        pass
    return None, None


def orphan_reason(
    kind: OrphanKind, obj: ListedObject, job: JobOutputs | None, user: str | None
) -> str | None:
    """Why this object is an orphan, or None when a live job may still need it. Ignores its age."""
    if job is None:
        return "no such job"
    if job.deleted:
        return "job deleted"
    if kind is OrphanKind.INCOMING:
        return f"job {job.state.value}" if job.state.terminal else None
    used = job.video_uri if kind is OrphanKind.VIDEO else job.thumbnail_uri
    if used == obj.uri:
        return None  # whatever its folder: objects stored before key_segment named the raw user id
    if user not in (key_segment(job.user_id), job.user_id):
        return "job of another user"
    unrecorded = kind is OrphanKind.THUMBNAIL and not used and user == key_segment(job.user_id)
    if unrecorded and job.state is JobState.COMPLETED and job.video_uri:
        return None  # the thumbnail backfill adopts it (CreateThumbnail returns an existing object)
    if job.state.terminal:
        return f"job {job.state.value} does not use it"
    return None


class Sweeper:
    def __init__(self, queries: MaintenanceQueries, storage: StorageClient, *, grace: timedelta) -> None:
        self._queries = queries
        self._storage = storage
        self._grace = grace

    async def find(self, *, now: datetime | None = None) -> SweepReport:
        """List the three prefixes page by page and classify every object; nothing is deleted."""
        cutoff = (now or datetime.now(UTC)) - self._grace
        report = SweepReport()
        videos: set[str] = set()
        for kind, prefix in PREFIXES.items():
            token = ""
            while True:
                page, token = await self._storage.list_objects(prefix, LIST_PAGE_SIZE, token)
                report.scanned += len(page)
                if kind is OrphanKind.VIDEO:
                    videos.update(obj.uri for obj in page)
                report.orphans.extend(await self._classify(kind, page, cutoff))
                if not token:
                    break
        report.missing_videos = await self._missing_videos(videos)
        return report

    async def _classify(
        self, kind: OrphanKind, page: Sequence[ListedObject], cutoff: datetime
    ) -> list[Orphan]:
        named = [(obj, *_job_id(kind, obj.name)) for obj in page]
        found = await self._queries.job_outputs({job_id for _, job_id, _ in named if job_id is not None})
        orphans = []
        for obj, job_id, user in named:
            if obj.update_time is not None and obj.update_time > cutoff:
                continue  # too young: a job may be writing or about to record it
            if job_id is None:
                orphans.append(Orphan(kind, obj.uri, "name matches no job", ""))
                continue
            reason = orphan_reason(kind, obj, found.get(job_id), user)
            if reason is not None:
                orphans.append(Orphan(kind, obj.uri, reason, str(job_id)))
        return orphans

    async def _missing_videos(self, stored: set[str]) -> list[MissingVideo]:
        missing: list[MissingVideo] = []
        after = None
        while batch := await self._queries.completed_videos(after, LIST_PAGE_SIZE):
            missing.extend(MissingVideo(str(job_id), uri) for job_id, uri in batch if uri not in stored)
            after = batch[-1][0]
        return missing

    async def delete(
        self, orphans: Sequence[Orphan], advance: Callable[[int], None] = lambda _: None
    ) -> list[str]:
        """Delete the given orphans through StorageService, in chunks; returns the URIs really deleted
        (an object already gone is not counted)."""
        return await delete_in_chunks(self._storage, [orphan.uri for orphan in orphans], advance)


async def delete_in_chunks(
    storage: StorageClient, uris: Sequence[str], advance: Callable[[int], None] = lambda _: None
) -> list[str]:
    """DeleteObjects in calls of at most DELETE_CHUNK URIs; the URIs really deleted (gone ones are not)."""
    deleted: list[str] = []
    for start in range(0, len(uris), DELETE_CHUNK):
        chunk = uris[start : start + DELETE_CHUNK]
        deleted.extend(await storage.delete(chunk))
        advance(len(chunk))
    return deleted

"""The duplicate clean-up for data older than keyless deduplication (`videojobs admin duplicates`): find each
group of one user's same-spec jobs, keep the best, and remove the rest through the API's own cancel and
delete (so stored objects go through storage_service). Also reports provider job ids shared by jobs and
`incoming/` folders holding more than one output. No gRPC server, no SQL here."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from job_service.domain import JobState
from job_service.duplicate_queries import DuplicateQueries, GroupMember, SharedProviderJob
from job_service.jobs import Jobs
from job_service.peers import CallFailed, StorageClient, peer_error
from videojobs.context import ADMIN_ROLE, Caller
from videojobs.errors import FailedPrecondition, NotFound

# Which job of a group is kept: the best state first (a finished video beats one in flight beats a failure
# beats one never started), then the oldest. CANCELLED ranks last, so the extras a run has already cancelled
# can never become the keeper when an interrupted run is started again.
KEEP_ORDER = {
    JobState.COMPLETED: 0,
    JobState.SUBMITTING: 1,
    JobState.PROCESSING: 1,
    JobState.FINALIZING: 1,
    JobState.FAILED: 2,
    JobState.CONTENT_VIOLATION: 2,
    JobState.PENDING: 3,
    JobState.CANCELLED: 4,
}
INCOMING = "incoming/"
LIST_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DuplicateGroup:
    keep: GroupMember
    extras: tuple[GroupMember, ...]


@dataclass(frozen=True)
class IncomingFolder:
    """A job's raw-output folder holding more than one video: only one of them became the job's video."""

    uri: str
    outputs: tuple[str, ...]

    @property
    def job_id(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Removal:
    """What removing one extra did: cancelled first if it was unfinished, its stored objects deleted."""

    cancelled: bool = False
    deleted_uris: tuple[str, ...] = field(default_factory=tuple)


def keep_and_extras(members: Sequence[GroupMember]) -> DuplicateGroup:
    ranked = sorted(members, key=lambda job: (KEEP_ORDER[job.state], job.create_time, str(job.id)))
    return DuplicateGroup(keep=ranked[0], extras=tuple(ranked[1:]))


def stored_uris(job: GroupMember) -> tuple[str, ...]:
    return tuple(uri for uri in (job.video_uri, job.thumbnail_uri) if uri)


class DuplicateCleanup:
    def __init__(self, queries: DuplicateQueries, jobs: Jobs, storage: StorageClient) -> None:
        self._queries = queries
        self._jobs = jobs
        self._storage = storage

    async def user_count(self) -> int:
        return await self._queries.user_count()

    async def groups(
        self, window_seconds: float, *, users_per_batch: int = 500
    ) -> AsyncIterator[tuple[list[DuplicateGroup], int]]:
        """Every duplicate group, a batch of users at a time: (the batch's groups, users in the batch).

        Batches keep each statement short (statement_timeout) and let a caller show progress."""
        after: str | None = None
        while users := await self._queries.users_after(after, users_per_batch):
            after = users[-1]
            members = await self._queries.groups(users, window_seconds)
            groups = [
                keep_and_extras(list(group)) for _, group in itertools.groupby(members, lambda m: m.group)
            ]
            yield groups, len(users)

    async def remove(self, extra: GroupMember) -> Removal:
        """Cancel the extra if it is unfinished, then delete its stored objects and hide it, as CancelJob
        and DeleteJob do. Each step is idempotent, so a run stopped half-way is finished by the next one."""
        owner = Caller(user_id=extra.user_id, role=ADMIN_ROLE)
        removal = Removal()
        if not extra.state.terminal:
            try:
                await self._jobs.cancel(owner, str(extra.id))
                removal.cancelled = True
            except FailedPrecondition:
                pass  # it finished since the scan; deleting it is still right
        with contextlib.suppress(NotFound):  # already removed (by another run, or the user)
            removal.deleted_uris = await self._jobs.delete(owner, str(extra.id))
        return removal

    async def shared_provider_jobs(self) -> list[SharedProviderJob]:
        return await self._queries.shared_provider_jobs()

    async def incoming_folders(
        self, on_page: Callable[[int], None] = lambda count: None
    ) -> list[IncomingFolder]:
        """`incoming/{job}/` folders holding more than one .mp4, listed through storage_service."""
        outputs: dict[str, list[str]] = {}
        token = ""
        while True:
            try:
                objects, token = await self._storage.list_objects(INCOMING, LIST_PAGE_SIZE, token)
            except CallFailed as failure:
                raise peer_error(failure) from None
            on_page(len(objects))
            for obj in objects:
                job, slash, rest = obj.name.removeprefix(INCOMING).partition("/")
                if slash and rest.lower().endswith(".mp4"):
                    folder = obj.uri.removesuffix(obj.name) + f"{INCOMING}{job}/"
                    outputs.setdefault(folder, []).append(obj.uri)
            if not token:
                break
        return [IncomingFolder(uri, tuple(found)) for uri, found in outputs.items() if len(found) > 1]

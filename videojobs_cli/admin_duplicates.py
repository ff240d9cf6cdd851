"""`videojobs admin duplicates`: the clean-up of duplicate jobs made before keyless deduplication existed
(what seed 000's cleanup_duplicate_videos.py did by hand), on the admin group's conventions (admin.py)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from videojobs_cli.admin import apply_option, emit, json_option, mode_text, progress, run

if TYPE_CHECKING:
    from job_service.duplicate_queries import GroupMember
    from job_service.duplicates import DuplicateGroup, Removal

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
COLUMNS = ["kind", "job_id", "user_id", "state", "kept", "objects", "action", "detail"]


class Duration(click.ParamType[float]):
    """A length of time: seconds, or a number with s, m, h or d (`90`, `30m`, `24h`, `7d`); in seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 30m, 24h or 7d", param, ctx)
        return float(match.group(1)) * _UNITS[match.group(2)]


@click.command()
@apply_option
@json_option
@click.option(
    "--window",
    type=Duration(),
    default="24h",
    show_default=True,
    help="Jobs of one user with the same spec, each created within this long of the one before, are a group.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Remove at most this many extra jobs in this run.")
def duplicates(apply: bool, as_json: bool, window: float, limit: int | None) -> None:
    """Find groups of one user's jobs with the same spec and keep one of each.

    The one kept is the best (COMPLETED, then in flight, then FAILED, then PENDING), then the oldest. With
    --apply the others are cancelled if unfinished, their stored videos and thumbnails deleted through
    storage_service, and they leave every listing. Also reported, never changed: provider job ids used by
    more than one job, and incoming/ folders holding more than one output. Safe to interrupt and rerun.
    """
    rows, summary = run(_duplicates(apply, window, limit))
    emit(rows, COLUMNS, summary, as_json=as_json, title="duplicate jobs")
    if summary["failed"]:
        raise SystemExit(1)


async def _duplicates(
    apply: bool, window: float, limit: int | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from job_service.duplicate_queries import DuplicateQueries
    from job_service.duplicates import DuplicateCleanup, stored_uris
    from videojobs.errors import ServiceError
    from videojobs_cli.backend import service

    failures: list[str] = []
    async with service() as job_service:
        cleanup = DuplicateCleanup(
            DuplicateQueries(job_service.engine), job_service.jobs, job_service.peers.storage
        )
        groups: list[DuplicateGroup] = []
        with progress("scanning users' jobs", await cleanup.user_count()) as advance:
            async for batch, users in cleanup.groups(window):
                groups += batch
                advance(users)
        shared = await cleanup.shared_provider_jobs()
        try:
            folders = await cleanup.incoming_folders()
        except ServiceError as error:
            folders = []
            failures.append(f"incoming/ not checked: {error.message}")

        extras = [extra for group in groups for extra in group.extras]
        chosen = extras[:limit] if limit else extras
        done: dict[str, Removal | str] = {}
        if apply:
            with progress("removing extra jobs", len(chosen)) as advance:
                for extra in chosen:
                    try:
                        done[str(extra.id)] = await cleanup.remove(extra)
                    except ServiceError as error:
                        done[str(extra.id)] = f"failed: {error.message}"
                        failures.append(f"{extra.id}: {error.message}")
                    advance(1)

    def action(extra: GroupMember) -> str:
        if not apply:
            if extra not in chosen:
                return "would be left (--limit)"
            return "would remove" if extra.state.terminal else "would cancel and remove"
        result = done.get(str(extra.id))
        if result is None:
            return "left for the next run (--limit)"
        if isinstance(result, str):
            return result
        return "cancelled, removed" if result.cancelled else "removed"

    def job_row(job: GroupMember, group: DuplicateGroup) -> dict[str, Any]:
        kept = job is group.keep
        return {
            "kind": "kept" if kept else "extra",
            "job_id": str(job.id),
            "user_id": job.user_id,
            "state": job.state.value,
            "kept": str(group.keep.id),
            "objects": len(stored_uris(job)),
            "action": "keep" if kept else action(job),
            "detail": _short(job.prompt),
            "create_time": job.create_time.isoformat(),
            "provider_job_id": job.provider_job_id,
            "stored_objects": list(stored_uris(job)),
        }

    rows = [job_row(job, group) for group in groups for job in (group.keep, *group.extras)]
    rows += [
        {
            "kind": "shared provider job",
            "job_id": " ".join(map(str, item.job_ids)),
            "action": "reported",
            "detail": f"{item.provider} {item.provider_job_id}",
            "provider": item.provider,
            "provider_job_id": item.provider_job_id,
            "job_ids": [str(job_id) for job_id in item.job_ids],
        }
        for item in shared
    ]
    rows += [
        {
            "kind": "incoming folder",
            "job_id": folder.job_id,
            "objects": len(folder.outputs),
            "action": "reported",
            "detail": folder.uri,
            "outputs": list(folder.outputs),
        }
        for folder in folders
    ]
    removed = [result for result in done.values() if not isinstance(result, str)]
    summary: dict[str, Any] = {
        "groups": len(groups),
        "extra_jobs": len(extras),
        "stored_objects": sum(len(stored_uris(extra)) for extra in extras),
        "removed_jobs": len(removed),
        "cancelled_jobs": sum(removal.cancelled for removal in removed),
        "deleted_objects": sum(len(removal.deleted_uris) for removal in removed),
        "shared_provider_job_ids": len(shared),
        "incoming_folders": len(folders),
        "failed": len(failures),
        "mode": mode_text(apply),
    }
    if failures:
        summary["failures"] = failures
    return rows, summary


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

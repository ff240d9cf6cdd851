"""`videojobs admin thumbnails`: make the missing thumbnails of completed jobs (what the workers' backfill
does a bounded batch at a time), on the admin group's conventions (admin.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import click

from videojobs_cli.admin import emit, json_option, progress, run

if TYPE_CHECKING:
    from job_service.maintenance_queries import MaintenanceQueries
    from job_service.thumbnails import BackfillReport

LOCK_WAIT_SECONDS = 15.0
COLUMNS = ["job_id", "user_id", "end_time", "attempts", "action", "detail"]


@click.command()
@click.option("--apply", is_flag=True, help="Really make them; without it the run only reports.")
@json_option
@click.option("--limit", type=click.IntRange(min=1), help="Try at most this many jobs in this run.")
def thumbnails(apply: bool, as_json: bool, limit: int | None) -> None:
    """List (and with --apply make) the thumbnails that completed jobs are missing.

    Every completed job that has its video and no thumbnail is tried, also those the workers gave up on
    after VIDEOJOBS_THUMBNAIL_MAX_ATTEMPTS. Making a thumbnail writes a new object and deletes nothing;
    the run is a dry run without --apply all the same, like every admin command that changes anything.
    Exits 1 when a thumbnail could not be made."""
    rows, summary = run(_thumbnails(apply, limit))
    emit(rows, COLUMNS, summary, as_json=as_json, title="missing thumbnails")
    if summary["failed"]:
        raise SystemExit(1)


async def _thumbnails(apply: bool, limit: int | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from job_service.server import create_backfill
    from job_service.thumbnails import PLAN_LIMIT, Outcome
    from job_service.upkeep import THUMBNAIL_LOCK_ID
    from videojobs_cli.backend import backend

    async with backend() as parts:
        backfill = create_backfill(parts.settings, parts.engine, parts.storage)
        missing = await backfill.missing(limit or PLAN_LIMIT)
        report: BackfillReport | None = None
        if apply:
            # The workers' backfill takes the same lock: one of the two at a time makes a job's thumbnail.
            # Their rounds are short, so wait a little for one to end rather than refuse at once.
            async with _exclusive_within(parts.maintenance, THUMBNAIL_LOCK_ID, LOCK_WAIT_SECONDS) as held:
                if not held:
                    raise click.ClickException(
                        "the thumbnail backfill is running on a worker right now; try again later"
                    )
                with progress("making thumbnails", len(missing)) as advance:
                    report = await backfill.make(missing, advance)

    done = {result.job.id: result for result in (report.results if report else [])}
    rows: list[dict[str, Any]] = []
    for job in missing:
        result = done.get(job.id)
        if result is None:
            action, detail = "would make", job.error or ""
        elif result.outcome is Outcome.MADE:
            action, detail = "made", result.thumbnail_uri
        elif result.outcome is Outcome.SKIPPED:
            action, detail = "skipped (the job changed)", ""
        else:
            action, detail = "failed", result.error
        rows.append(
            {
                "job_id": str(job.id),
                "user_id": job.user_id,
                "end_time": job.end_time.isoformat(timespec="seconds"),
                "attempts": job.attempts,
                "action": action,
                "detail": detail,
                "video_uri": job.video_uri,
            }
        )
    summary: dict[str, Any] = {
        "missing": len(missing),
        "gave_up": sum(job.attempts >= backfill.max_attempts for job in missing),
        "made": report.count(Outcome.MADE) if report else 0,
        "failed": report.count(Outcome.FAILED) if report else 0,
        "skipped": report.count(Outcome.SKIPPED) if report else 0,
        "mode": "applied" if apply else "dry run (use --apply to make them)",
    }
    return rows, summary


@asynccontextmanager
async def _exclusive_within(queries: MaintenanceQueries, lock_id: int, seconds: float) -> AsyncIterator[bool]:
    """The advisory lock, tried every 0.2 s for up to `seconds`; yields whether it is held."""
    deadline = time.monotonic() + seconds
    while True:
        async with queries.exclusive(lock_id) as held:
            if held or time.monotonic() >= deadline:
                yield held
                return
        await asyncio.sleep(0.2)

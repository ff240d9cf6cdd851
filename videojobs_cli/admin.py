"""`videojobs admin`: one command group for operators, with one set of conventions.

- Results go to stdout: a table for people by default, one JSON document with `--json` for scripts.
  Logs and progress bars go to stderr, so piping stdout never captures them.
- Anything that scans and deletes (sweep, retention, duplicates) or makes in bulk (thumbnails) is a dry run
  unless `--apply` is given: the run reports what it would do. A command that names the one thing it acts on
  (`jobs cancel ID`, `quota reset --user`, `keys revoke KEY_ID`) acts at once, as its gRPC method does.
- Every run ends with a summary, in the table output and under "summary" in JSON. A listing prints
  {"items": [...], "summary": {...}}; a command about one thing (`jobs show`, `quota show`, ...) prints
  {"item": {...}, "summary": {...}}, the item as the gRPC method returned it (field names as in the proto).
- Exit status: 0 done, 1 failed (a failed call prints its gRPC code, message and field errors on stderr),
  2 a usage error.

Commands on the bucket and the database (sweep, retention, duplicates, thumbnails) work on job_service's own
database and storage client (backend.py); the others call job_service over gRPC as an admin (admin_rpc.py).

Kept light to import (no grpc, no SQLAlchemy at module level): `videojobs` loads it for every command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

# Results only; soft_wrap keeps long URIs on one line so they can be copied.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


@click.group()
def admin() -> None:
    """Operate a deployment: sweep the bucket, and more. Deletions are dry runs unless --apply."""


def json_option(command: _F) -> _F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document instead of a table."
    )(command)


def page_options(default_size: int) -> Callable[[_F], _F]:
    """--page-size, --page-token and --all of a paged listing (admin_rpc.list_pages), in that order."""

    def add(command: _F) -> _F:
        every_page = "Follow every page (a progress bar on a terminal)."
        command = click.option("--all", "every_page", is_flag=True, help=every_page)(command)
        go_on = "Go on from the next_page_token of an earlier run."
        command = click.option("--page-token", default="", help=go_on)(command)
        size = click.IntRange(1, 100)
        return click.option("--page-size", type=size, default=default_size, show_default=True)(command)

    return add


def apply_option(command: _F) -> _F:
    return click.option("--apply", is_flag=True, help="Really delete; without it the run only reports.")(
        command
    )


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


def emit(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    summary: Mapping[str, Any],
    *,
    as_json: bool,
    title: str,
) -> None:
    """The result of a command: its rows and its summary, as a table or as JSON."""
    if as_json:
        document = {"items": [dict(row) for row in rows], "summary": dict(summary)}
        click.echo(json.dumps(document, indent=2, default=str))
        return
    if rows:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        stdout.print(table)
    else:
        stdout.print(f"{title}: nothing found")
    stdout.print(", ".join(f"{key}: {_cell(value)}" for key, value in summary.items()))


def emit_record(
    record: Mapping[str, Any],
    fields: Sequence[str],
    summary: Mapping[str, Any],
    *,
    as_json: bool,
    title: str,
) -> None:
    """The result of a command about one thing: `fields` of it as a two-column table, or all of it as JSON."""
    if as_json:
        click.echo(json.dumps({"item": dict(record), "summary": dict(summary)}, indent=2, default=str))
        return
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name in fields:
        table.add_row(name, _cell(record.get(name)))
    stdout.print(table)
    stdout.print(", ".join(f"{key}: {_cell(value)}" for key, value in summary.items()))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (only on a terminal; total None: a count without an end); yields
    `advance(n)`."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@admin.command()
@apply_option
@json_option
@click.option(
    "--grace-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Objects younger than this are left alone (default VIDEOJOBS_SWEEP_GRACE_SECONDS).",
)
def sweep(apply: bool, as_json: bool, grace_seconds: float | None) -> None:
    """Find (and with --apply delete) orphaned objects; report completed jobs whose video is missing.

    Orphans: incoming/ objects of terminal or missing jobs, and videos/ and thumbnails/ objects no live
    job uses, older than the grace period. Deletions go through StorageService. Missing videos are only
    reported."""
    from job_service.sweep import SweepReport

    async def sweep_bucket() -> SweepReport:
        from job_service.server import create_sweeper
        from job_service.upkeep import SWEEP_LOCK_ID
        from videojobs_cli.backend import backend

        overrides = {} if grace_seconds is None else {"sweep_grace_seconds": grace_seconds}
        async with backend(**overrides) as parts:
            sweeper = create_sweeper(parts.settings, parts.engine, parts.storage)
            # The workers' periodic sweep takes the same lock: never two deleting sweeps at once.
            async with parts.maintenance.exclusive(SWEEP_LOCK_ID) as held:
                if apply and not held:
                    raise click.ClickException("a sweep is running on a worker right now; try again later")
                with stderr.status("listing the bucket") if stderr.is_terminal else nullcontext():
                    report = await sweeper.find()
                if apply:
                    with progress("deleting orphans", len(report.orphans)) as advance:
                        report.deleted = await sweeper.delete(report.orphans, advance)
            return report

    report = run(sweep_bucket())
    deleted = set(report.deleted)
    rows = [
        {
            "kind": o.kind.value,
            "uri": o.uri,
            "job_id": o.job_id,
            "reason": o.reason,
            "deleted": o.uri in deleted,
        }
        for o in report.orphans
    ] + [
        {
            "kind": "missing video",
            "uri": m.video_uri,
            "job_id": m.job_id,
            "reason": "COMPLETED job, no object",
        }
        for m in report.missing_videos
    ]
    summary = {
        "scanned": report.scanned,
        "orphans": len(report.orphans),
        "deleted": len(report.deleted),
        "missing_videos": len(report.missing_videos),
        "mode": mode_text(apply),
    }
    columns = ["kind", "uri", "job_id", "reason"] + (["deleted"] if apply else [])
    emit(rows, columns, summary, as_json=as_json, title="orphan sweep")


@admin.command()
@apply_option
@json_option
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Expire finished jobs older than this (default VIDEOJOBS_RETENTION_DAYS).",
)
@click.option(
    "--purge-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Purge hidden jobs older than this (default VIDEOJOBS_PURGE_DAYS).",
)
def retention(apply: bool, as_json: bool, days: float | None, purge_days: float | None) -> None:
    """Apply the retention policy: finished jobs past it lose their video and thumbnail and are hidden;
    hidden jobs past the purge age are deleted with their events. A dry run unless --apply."""
    from job_service.retention import RetentionReport

    async def expire() -> RetentionReport:
        from job_service.server import create_retention
        from job_service.upkeep import RETENTION_LOCK_ID
        from videojobs_cli.backend import backend

        overrides: dict[str, float] = {}
        if days is not None:
            overrides["retention_days"] = days
        if purge_days is not None:
            overrides["purge_days"] = purge_days
        async with backend(**overrides) as parts:
            policy = create_retention(parts.settings, parts.engine, parts.storage)
            if not policy.policy.active:
                raise click.ClickException(
                    "retention is off: set VIDEOJOBS_RETENTION_DAYS / VIDEOJOBS_PURGE_DAYS or pass --days"
                )
            planned = await policy.plan()
            if not apply:
                return planned
            async with parts.maintenance.exclusive(RETENTION_LOCK_ID) as held:
                if not held:
                    raise click.ClickException("retention is running on a worker right now; try again later")
                total = len(planned.expiring) + planned.purgeable
                with progress("expiring and purging jobs", total) as advance:
                    return await policy.run_all(parts.settings.retention_batch, advance)

    report = run(expire())
    rows = [
        {
            "job_id": str(job.id),
            "user_id": job.user_id,
            "state": job.state.value,
            "end_time": job.end_time.isoformat(timespec="seconds"),
            "objects": len(job.uris),
        }
        for job in report.expiring
    ]
    summary = {
        "jobs_expiring" if not apply else "jobs_expired": len(report.expiring)
        if not apply
        else report.expired,
        "objects_deleted": len(report.deleted),
        "jobs_purgeable" if not apply else "jobs_purged": report.purgeable if not apply else report.purged,
        "mode": mode_text(apply),
    }
    emit(
        rows,
        ["job_id", "user_id", "state", "end_time", "objects"],
        summary,
        as_json=as_json,
        title="retention",
    )


def mode_text(apply: bool) -> str:
    return "applied" if apply else "dry run (use --apply to delete)"

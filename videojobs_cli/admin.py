"""`videojobs admin`: one command group for operators, with one set of conventions.

- Results go to stdout: a table for people by default, one JSON document with `--json` for scripts.
  Logs and progress bars go to stderr, so piping stdout never captures them.
- Anything that deletes is a dry run unless `--apply` is given: the run reports what it would do.
- Every run ends with a summary (counts), in the table output and under "summary" in JSON.

Kept light to import (no grpc, no SQLAlchemy at module level): `videojobs` loads it for every command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (only on a terminal); yields `advance(n)`."""
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

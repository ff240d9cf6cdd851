"""Test databases: one Postgres per run (embedded unless TEST_DATABASE_URL/DATABASE_URL is set), a
migrated template per xdist worker, and a fresh clone of it per test (CREATE DATABASE ... TEMPLATE)."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from job_service import database

ROOT = Path(__file__).resolve().parents[2]
Sql = Callable[..., list[tuple[Any, ...]]]  # the `sql` fixture: sql(query, params=None) -> rows


def run_sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement against a test database: its rows, or [] for a statement that returns none.

    Synchronous, so a test calling it from the event loop that also runs the services would wait forever on a
    row lock a service holds across an await: the lock timeout turns that deadlock into an error.
    """
    with psycopg.connect(url, options="-c lock_timeout=10s -c statement_timeout=30s") as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


@asynccontextmanager
async def advisory_lock_held(url: str, lock_id: int) -> AsyncIterator[None]:
    """An operator's session holding Postgres advisory lock `lock_id` for the block. Taken in a thread: a
    replica on the test's event loop may hold the lock right now, and must run to let go."""
    with psycopg.connect(url, autocommit=True) as holder:
        await asyncio.to_thread(holder.execute, "SELECT pg_advisory_lock(%s)", (lock_id,))
        yield


def server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    return database.embedded_postgres_url(ROOT / ".videojobs" / "test")


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(database.with_database(url, "postgres"), autocommit=True)


@dataclass
class DatabaseFactory:
    url: str
    worker: str
    template: str = ""
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def prepare_template(self) -> None:
        self.template = f"vj_tpl_{self.worker}_{uuid.uuid4().hex[:8]}"
        with _admin(self.url) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        database.migrate(database.with_database(self.url, self.template))

    def create(self) -> str:
        """A new database cloned from the migrated template; returns its URL."""
        name = f"vj_{self.worker}_{next(self._counter)}_{uuid.uuid4().hex[:6]}"
        with _admin(self.url) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.template)
                )
            )
        return database.with_database(self.url, name)

    def drop(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url).get("dbname")
        with _admin(self.url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))

    def drop_template(self) -> None:
        if self.template:
            self.drop(database.with_database(self.url, self.template))

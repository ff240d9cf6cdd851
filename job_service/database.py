"""Where the database comes from (DATABASE_URL, or an embedded Postgres), the engine, migrations, and the
one place driver errors become domain errors."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from videojobs.errors import Unavailable
from videojobs.logs import get_logger

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

_P = ParamSpec("_P")
_R = TypeVar("_R")

# How long a client should wait before retrying when the database is briefly out of reach.
DATABASE_RETRY_SECONDS = 1.0

# Embedded servers stay up while their handle lives; keyed by data folder so a process starts each once.
_embedded: dict[Path, Any] = {}


def embedded_postgres_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) an embedded PostgreSQL 16 in data_dir/postgres and return its URL.

    pgserver counts the processes using a data folder and stops the server when the last one exits.
    """
    try:
        import pgserver  # imported here: only development and tests need it (the `embedded` extra)
    except ImportError as exc:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded Postgres is not installed "
            "(pip install 'videojobs[embedded]' for development)"
        ) from exc

    pgdata = (data_dir / "postgres").resolve()
    server = _embedded.get(pgdata)
    if server is None:
        pgdata.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded postgres", pgdata=str(pgdata))
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        _embedded[pgdata] = server
    return str(server.get_uri(database))


def sqlalchemy_url(url: str) -> URL:
    """Any postgres URL, pointed at the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql+psycopg")


def libpq_url(url: str | URL) -> str:
    """A SQLAlchemy URL as a plain postgresql:// URL that libpq and psycopg accept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server, another database, as a plain postgresql:// URL (usable by libpq and psycopg)."""
    return (
        sqlalchemy_url(url)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, statement_timeout_ms: int = 10_000
) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,  # psycopg reports a dead connection on use; the retry is the caller's
        pool_recycle=1800,
        connect_args={
            "options": f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={statement_timeout_ms}",
            "connect_timeout": 10,
        },
    )


def create_driver_pool(
    url: str, *, max_size: int = 10, statement_timeout_ms: int = 10_000
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """A plain psycopg pool for the hot path (CreateJob): autocommit, server-side prepared statements and
    no ORM result processing, which is most of the per-call CPU at high rates. Opened by the caller.

    It starts empty and keeps only connections it has used (min_size 0): a worker-only replica never
    creates jobs, and should not hold connections against the server's max_connections for nothing."""
    timeouts = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={statement_timeout_ms}"
    return AsyncConnectionPool(
        libpq_url(sqlalchemy_url(url)),
        min_size=0,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "options": timeouts, "connect_timeout": 10},
        timeout=statement_timeout_ms / 1000,
        open=False,
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", sqlalchemy_url(url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (blocking; replicas serialize on an advisory lock)."""
    engine = create_sync_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


class SchemaNotCurrent(RuntimeError):
    """The database is not (yet) at the newest revision this code knows."""


def check_current(url: str) -> None:
    """Raise SchemaNotCurrent unless the schema is at the newest revision (for replicas that leave
    migrating to a migration job and wait for it instead)."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_sync_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if current != heads:
        have = sorted(current) or "no revision"
        raise SchemaNotCurrent(f"database is at {have}, this code needs {sorted(heads)}")


def database_errors(method: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """The one place driver errors become domain errors: trouble reaching or using the database is
    transient (UNAVAILABLE + RetryInfo); anything else is a bug and stays an exception."""

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except (
            exc.OperationalError,
            exc.TimeoutError,
            exc.InterfaceError,
            psycopg.OperationalError,
            psycopg.InterfaceError,
            PoolTimeout,
        ) as error:
            raise Unavailable(
                "the job database is unavailable; retry shortly",
                reason="DATABASE_UNAVAILABLE",
                retry_after=DATABASE_RETRY_SECONDS,
            ) from error

    return wrapper

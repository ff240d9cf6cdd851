"""The migrations build exactly the schema tables.py describes, from empty, and back."""

from __future__ import annotations

import os
import subprocess

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from job_service import database
from job_service.tables import Base
from tests.support.cli import BIN
from tests.support.postgres import DatabaseFactory


def _diff(url: str) -> list[object]:
    engine = create_engine(database.sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_from_empty_matches_the_tables(database_factory: DatabaseFactory) -> None:
    url = database_factory.create()
    try:
        config = database.alembic_config(url)
        command.downgrade(config, "base")
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        assert tables == [("alembic_version",)]

        database.migrate(url)

        assert _diff(url) == []
    finally:
        database_factory.drop(url)


def test_migrating_twice_is_harmless(database_url: str) -> None:
    database.migrate(database_url)
    database.migrate(database_url)
    assert _diff(database_url) == []


def test_replicas_migrating_at_once_from_empty_apply_each_migration_once(
    database_factory: DatabaseFactory,
) -> None:
    """Replicas that start together on an empty database (compose's job and workers after a `down -v`, or
    replicas left with VIDEOJOBS_MIGRATE_ON_START) wait on one another's advisory lock: three `videojobs
    migrate` processes at once all succeed, and the schema is whole."""
    url = database_factory.create()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        env = {**os.environ, "DATABASE_URL": url, "VIDEOJOBS_LOG_LEVEL": "WARNING"}
        replicas = [
            subprocess.Popen(
                [str(BIN), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        for replica in replicas:
            stdout, stderr = replica.communicate(timeout=120)
            assert replica.returncode == 0, stderr
            assert "newest revision" in stdout
        database.check_current(url)
        assert _diff(url) == []
    finally:
        database_factory.drop(url)


def test_update_time_is_kept_by_the_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO jobs (id, user_id, spec, state, quota_day, create_time, update_time) "
            "VALUES (gen_random_uuid(), 'u', '{}', 'PENDING', current_date, now() - interval '1 hour', "
            "now() - interval '1 hour')"
        )
        conn.commit()
        conn.execute("UPDATE jobs SET state = 'CANCELLED'")
        conn.commit()
        row = conn.execute("SELECT update_time > create_time + interval '59 minutes' FROM jobs").fetchone()
    assert row == (True,)


def test_the_idempotency_index_is_partial(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_jobs_user_id_client_request_id'"
        ).fetchone()
    assert row is not None
    (definition,) = row
    assert "UNIQUE" in definition
    assert "WHERE (client_request_id IS NOT NULL)" in definition

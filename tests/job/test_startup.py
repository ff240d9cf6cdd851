"""job_service at start-up: it waits (bounded, with backoff) for its database and for a current schema
instead of crashing, and a worker-only replica reports its health on a port of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from job_service import database
from job_service.server import JobService, create_engine, create_server, prepare_database
from job_service.settings import JobServiceSettings
from tests.support.cli import BIN
from tests.support.postgres import DatabaseFactory
from tests.support.services import job_settings, started
from videojobs.probes import grpc_serving
from videojobs_cli.gcs_emulator import free_port


@contextlib.asynccontextmanager
async def relay_to(url: str, port: int) -> AsyncIterator[None]:
    """A TCP relay on 127.0.0.1:port to the server of `url` (TCP or a Unix socket, as the embedded one
    listens): Postgres "coming up" on that address."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host, to_port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{to_port}")
        return await asyncio.open_connection(host, to_port)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await connect()
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


def _via_port(url: str, port: int) -> str:
    """The same database, reached on 127.0.0.1:port."""
    moved = make_url(url).difference_update_query(["host", "port"]).set(host="127.0.0.1", port=port)
    return moved.render_as_string(hide_password=False)


async def test_waits_for_a_database_that_comes_up_late(database_url: str) -> None:
    port = free_port()
    settings = JobServiceSettings(database_url=_via_port(database_url, port), startup_timeout_seconds=30)
    waiting = asyncio.create_task(prepare_database(settings))
    await asyncio.sleep(1.5)
    assert not waiting.done()  # refused connections so far, and no crash
    async with relay_to(database_url, port):
        url = await asyncio.wait_for(waiting, 20)
    assert url == settings.database_url
    database.check_current(database_url)


async def test_gives_up_once_the_startup_timeout_has_passed(database_url: str) -> None:
    settings = JobServiceSettings(
        database_url=_via_port(database_url, free_port()), startup_timeout_seconds=1.5
    )
    started = time.monotonic()
    with pytest.raises(OperationalError):
        await prepare_database(settings)
    assert 1.5 <= time.monotonic() - started < 10


async def test_without_migrating_it_waits_for_someone_else_to_migrate(
    database_factory: DatabaseFactory,
) -> None:
    url = database_factory.create()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        settings = JobServiceSettings(database_url=url, migrate_on_start=False, startup_timeout_seconds=30)
        waiting = asyncio.create_task(prepare_database(settings))
        await asyncio.sleep(1.5)
        assert not waiting.done()
        with pytest.raises(database.SchemaNotCurrent):
            database.check_current(url)
        await asyncio.to_thread(database.migrate, url)  # the migration job
        await asyncio.wait_for(waiting, 20)
    finally:
        database_factory.drop(url)


def worker_only(database_url: str) -> JobService:
    """Built, not started (a test may break it first); start it with tests.support.services.started."""
    settings = job_settings(database_url, worker_enabled=True, worker_health_port=0)
    return create_server(settings, create_engine(settings, database_url), serve_grpc=False)


async def test_a_worker_only_replica_reports_its_health(database_url: str) -> None:
    service = worker_only(database_url)
    async with started(service, service.start):
        target = f"127.0.0.1:{service.port}"
        assert await asyncio.to_thread(grpc_serving, target, 2) == (True, "SERVING")
        env = {**os.environ, "VIDEOJOBS_WORKER_HEALTH_PORT": str(service.port)}
        command = [str(BIN), "health", "worker"]
        probe = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=30
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert f"worker at {target}: SERVING" in probe.stdout


async def test_a_worker_whose_loop_died_is_reported_unhealthy(database_url: str) -> None:
    service = worker_only(database_url)
    assert service.worker is not None

    async def broken_loop(stopping: asyncio.Event) -> None:
        raise RuntimeError("a bug in the loop")

    service.worker.run = broken_loop  # type: ignore[method-assign]
    async with started(service, service.start):
        target = f"127.0.0.1:{service.port}"
        async with asyncio.timeout(10):
            while (await asyncio.to_thread(grpc_serving, target, 2))[0]:  # noqa: ASYNC110 - polls a server
                await asyncio.sleep(0.1)


def test_health_command_fails_where_nothing_serves() -> None:
    env = {**os.environ, "VIDEOJOBS_JOB_PORT": str(free_port())}
    probe = subprocess.run(
        [str(BIN), "health", "job", "--timeout", "1"], env=env, capture_output=True, text=True, timeout=30
    )
    assert probe.returncode == 1
    assert "not SERVING" in probe.stdout

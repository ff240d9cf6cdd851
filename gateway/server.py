"""Run the gateway: uvicorn with the configured number of worker processes (`videojobs serve gateway`), and
the limits of gateway/http_limits.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from gateway.http_limits import server_config
from gateway.main import create_app
from gateway.settings import GatewaySettings
from videojobs.logs import configure_logging, get_logger

log = get_logger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the program it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningGateway:
    app: FastAPI
    server: uvicorn.Server
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running(settings: GatewaySettings, app: FastAPI | None = None) -> AsyncIterator[RunningGateway]:
    """The gateway served by uvicorn on the current event loop (one worker; port 0 picks a free port)."""
    app = app or create_app(settings)
    config = server_config(settings, app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError("the gateway stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGateway(app=app, server=server, port=port)
    finally:
        server.should_exit = True
        await task


def main(settings: GatewaySettings | None = None) -> None:
    settings = settings or GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here and /metrics adds them up, whichever worker answers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="videojobs-metrics-")
    log.info(
        "gateway starting", host=settings.gateway_host, port=settings.gateway_port, workers=settings.workers
    )
    config = server_config(
        settings,
        "gateway.main:app_from_environment",
        factory=True,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) or None,
    )
    # What uvicorn.run does, with our configuration class (it carries the request deadlines).
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)

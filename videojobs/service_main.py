"""The process of a plain gRPC service (`videojobs serve provider`, `videojobs serve storage`): logging as
its settings say, then the service started and served until SIGINT or SIGTERM, then stopped gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from videojobs.logs import configure_logging
from videojobs.server import GrpcServer
from videojobs.settings import CommonSettings

Settings = TypeVar("Settings", bound=CommonSettings)


class Service(Protocol):
    @property
    def grpc(self) -> GrpcServer: ...


# Each service's `server.running`: the service started, and stopped gracefully on exit.
Running = Callable[[Settings], AbstractAsyncContextManager[Service]]


def run_until_signalled(settings: Settings, running: Running[Settings]) -> None:
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_serve(settings, running))


async def _serve(settings: Settings, running: Running[Settings]) -> None:
    async with running(settings) as service:
        await service.grpc.serve_until_signalled()

"""`create_server`: the bootstrap every service uses (reflection, health, interceptors, graceful stop)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from videojobs.interceptors import ServiceInterceptor
from videojobs.logs import get_logger
from videojobs.message_limits import message_size_options
from videojobs.settings import CommonSettings

log = get_logger(__name__)

# Keep connections healthy through load balancers and NATs that drop idle streams (e.g. long WatchJob calls).
_CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    grace: float

    async def start(self) -> None:
        await self.server.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING first so balancers drain us, then let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace if grace is None else grace)

    async def serve_until_signalled(self) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        log.info("shutting down", grace_seconds=self.grace)
        await self.stop()


def create_server(
    settings: CommonSettings,
    *,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    max_message_bytes: int | None = None,
) -> GrpcServer:
    """Build (not start) a server bound to `address`; port 0 picks a free port, reported in `.port`.
    `max_message_bytes` raises gRPC's 4 MiB message limit (see videojobs.message_limits)."""
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(settings.internal_token.get_secret_value())],
        options=(
            *_CHANNEL_OPTIONS,
            *message_size_options(max_message_bytes),
            ("grpc.so_reuseport", int(settings.reuse_port)),
        ),
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    return GrpcServer(
        server=server,
        port=port,
        health=health_servicer,
        service_names=tuple(service_names),
        grace=settings.shutdown_grace_seconds,
    )

"""Client side of the standard health service: wait for a server (or one of its services) to be SERVING."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health_pb2

# The typed stubs for grpc_health lack HealthStub.Check, so the method is bound directly (same wire call).
_CHECK = "/grpc.health.v1.Health/Check"


async def check(channel: grpc.aio.Channel, service: str = "", rpc_timeout: float = 1.0) -> bool:
    """One health check; False on any RPC error (not up yet, or NOT_SERVING)."""
    call = channel.unary_unary(
        _CHECK,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    try:
        reply = await call(health_pb2.HealthCheckRequest(service=service), timeout=rpc_timeout)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def wait_serving(target: str, service: str = "", within: float = 30.0) -> None:
    """Poll `target` until it reports SERVING; TimeoutError after `within` seconds."""
    deadline = time.monotonic() + within
    async with grpc.aio.insecure_channel(target) as channel:
        while time.monotonic() < deadline:
            if await check(channel, service):
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{target} did not report SERVING within {within:.0f}s")

"""What every request of a gateway process shares (`app.state.gateway`): settings, the gRPC channels and
stubs of job_service and provider_service (opened once at start-up and reused), the options of each call,
the authenticator, the rate limiters and the metrics."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.auth import Authenticator
from gateway.metrics import Metrics
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from videojobs import context
from videojobs.clients import direct_channel, internal_metadata
from videojobs.v1 import job_service_pb2_grpc, provider_service_pb2_grpc

Metadata = tuple[tuple[str, str | bytes], ...]


@dataclass
class CallOptions:
    """The keyword arguments of every backend call: internal token, request id, deadline.

    Passed per call rather than by a channel interceptor, which would cost a task per call.
    """

    token: str
    timeout: float

    def metadata(self, extra: Metadata = ()) -> Metadata:
        return internal_metadata(self.token, context.request_id.get()) + extra

    def __call__(self, extra: Metadata = ()) -> dict[str, Any]:
        return {"metadata": self.metadata(extra), "timeout": self.timeout}


@dataclass
class GatewayState:
    settings: GatewaySettings
    job_channel: grpc.aio.Channel
    provider_channel: grpc.aio.Channel
    jobs: job_service_pb2_grpc.JobServiceAsyncStub
    providers: provider_service_pb2_grpc.ProviderServiceAsyncStub
    call_options: CallOptions
    authenticator: Authenticator
    limiter: RateLimiter
    auth_failures: RateLimiter
    webhooks: RateLimiter
    metrics: Metrics
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    async def close(self) -> None:
        await self.job_channel.close()
        await self.provider_channel.close()


def open_state(settings: GatewaySettings, metrics: Metrics) -> GatewayState:
    """Must run on the serving event loop (grpc.aio channels belong to the loop that made them)."""
    options = CallOptions(settings.internal_token.get_secret_value(), settings.rpc_timeout_seconds)
    job_channel = direct_channel(settings.job_target)
    provider_channel = direct_channel(settings.provider_target)
    jobs: job_service_pb2_grpc.JobServiceAsyncStub = job_service_pb2_grpc.JobServiceStub(job_channel)
    providers: provider_service_pb2_grpc.ProviderServiceAsyncStub = (
        provider_service_pb2_grpc.ProviderServiceStub(provider_channel)
    )
    return GatewayState(
        settings=settings,
        job_channel=job_channel,
        provider_channel=provider_channel,
        jobs=jobs,
        providers=providers,
        call_options=options,
        authenticator=Authenticator(settings, jobs, options),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        auth_failures=RateLimiter(settings.auth_failure_per_second, settings.auth_failure_burst),
        webhooks=RateLimiter(settings.webhook_rate_per_second, settings.webhook_rate_burst),
        metrics=metrics,
        trusted_proxies=tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies
        ),
    )

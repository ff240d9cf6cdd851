"""The gRPC clients the gateway calls: channels opened once per process at start-up and reused."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gateway.auth import Authenticator
from gateway.metrics import Metrics
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from videojobs.clients import internal_channel
from videojobs.v1 import job_service_pb2_grpc, provider_service_pb2_grpc


@dataclass
class Backends:
    settings: GatewaySettings
    job_channel: grpc.aio.Channel
    provider_channel: grpc.aio.Channel
    jobs: job_service_pb2_grpc.JobServiceAsyncStub
    providers: provider_service_pb2_grpc.ProviderServiceAsyncStub
    authenticator: Authenticator
    limiter: RateLimiter
    metrics: Metrics

    async def close(self) -> None:
        await self.job_channel.close()
        await self.provider_channel.close()


def open_backends(settings: GatewaySettings, metrics: Metrics) -> Backends:
    """Must run on the serving event loop (grpc.aio channels belong to the loop that made them)."""
    token = settings.internal_token.get_secret_value()
    job_channel = internal_channel(settings.job_target, token)
    provider_channel = internal_channel(settings.provider_target, token)
    jobs: job_service_pb2_grpc.JobServiceAsyncStub = job_service_pb2_grpc.JobServiceStub(job_channel)
    providers: provider_service_pb2_grpc.ProviderServiceAsyncStub = (
        provider_service_pb2_grpc.ProviderServiceStub(provider_channel)
    )
    return Backends(
        settings=settings,
        job_channel=job_channel,
        provider_channel=provider_channel,
        jobs=jobs,
        providers=providers,
        authenticator=Authenticator(settings, jobs),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        metrics=metrics,
    )

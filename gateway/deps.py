"""Dependencies routes declare with Annotated: the gRPC stubs, the authenticated caller, call options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, Request

from gateway.auth import Principal
from gateway.backends import Backends
from gateway.metrics import Metrics
from gateway.problems import Problem
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from videojobs.v1 import job_service_pb2_grpc, provider_service_pb2_grpc

if TYPE_CHECKING:
    from videojobs.v1.job_service_pb2_grpc import JobServiceAsyncStub as JobServiceAsyncStub
    from videojobs.v1.provider_service_pb2_grpc import ProviderServiceAsyncStub as ProviderServiceAsyncStub
else:  # the async stub types exist only for type checkers; at run time they are the plain stubs
    JobServiceAsyncStub = job_service_pb2_grpc.JobServiceStub
    ProviderServiceAsyncStub = provider_service_pb2_grpc.ProviderServiceStub


def get_backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


BackendsDep = Annotated[Backends, Depends(get_backends)]


def get_settings(backends: BackendsDep) -> GatewaySettings:
    return backends.settings


def get_job_stub(backends: BackendsDep) -> JobServiceAsyncStub:
    return backends.jobs


def get_provider_stub(backends: BackendsDep) -> ProviderServiceAsyncStub:
    return backends.providers


def get_metrics(backends: BackendsDep) -> Metrics:
    return backends.metrics


Settings = Annotated[GatewaySettings, Depends(get_settings)]
JobStub = Annotated[JobServiceAsyncStub, Depends(get_job_stub)]
ProviderStub = Annotated[ProviderServiceAsyncStub, Depends(get_provider_stub)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True)
class UserCall:
    """Keyword arguments for a gRPC call acting for the authenticated user, with the call's deadline."""

    principal: Principal
    timeout: float

    @property
    def options(self) -> dict[str, Any]:
        return {"metadata": self.principal.metadata(), "timeout": self.timeout}


def rate_limit(limiter: RateLimiter, metrics: Metrics, key: str) -> None:
    wait = limiter.acquire(key)
    if wait is not None:
        metrics.rate_limited.inc()
        raise Problem(
            429,
            f"too many requests: at most {limiter.per_second:g}/s (bursts of {limiter.burst})",
            reason="RATE_LIMITED",
            retry_after=RateLimiter.retry_after_header(wait),
        )


async def authenticated_call(
    backends: BackendsDep,
    authorization: Annotated[
        str | None, Header(description="Bearer <API key> or Bearer <JWT>", include_in_schema=False)
    ] = None,
) -> UserCall:
    principal = await backends.authenticator.authenticate(authorization)
    rate_limit(backends.limiter, backends.metrics, principal.user_id)
    return UserCall(principal, backends.settings.rpc_timeout_seconds)


async def admin_call(call: Annotated[UserCall, Depends(authenticated_call)]) -> UserCall:
    if not call.principal.is_admin:
        raise Problem(403, "this route needs an admin API key", reason="ADMIN_REQUIRED")
    return call


Caller = Annotated[UserCall, Depends(authenticated_call)]
Admin = Annotated[UserCall, Depends(admin_call)]

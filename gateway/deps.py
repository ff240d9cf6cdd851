"""What routes declare with Annotated: the shared state, and the authenticated user's call with its options.

Every dependency here is `async def`: FastAPI runs a plain `def` dependency on a thread pool, and that
hand-off cost more CPU per request than the rest of the dependency work together.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from gateway.auth import LookupRefused, Principal
from gateway.problems import Problem
from gateway.ratelimit import RateLimiter
from gateway.state import GatewayState
from videojobs.v1 import job_service_pb2_grpc


async def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


StateDep = Annotated[GatewayState, Depends(get_state)]


@dataclass(frozen=True)
class UserCall:
    """A request acting for the authenticated user: the shared state, and the options of its gRPC calls."""

    state: GatewayState
    principal: Principal
    options: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        options = self.state.call_options(self.principal.metadata())
        object.__setattr__(self, "options", options)

    @property
    def jobs(self) -> job_service_pb2_grpc.JobServiceAsyncStub:
        return self.state.jobs


def rate_limit(state: GatewayState, key: str) -> None:
    limiter = state.limiter
    wait = limiter.acquire(key)
    if wait is not None:
        detail = f"too many requests: at most {limiter.per_second:g}/s (bursts of {limiter.burst})"
        raise rate_limited(state, wait, detail, reason="RATE_LIMITED")


def rate_limited(state: GatewayState, wait: float, detail: str, *, reason: str) -> Problem:
    """The 429 for a request a limiter refused (`wait` seconds before it would pass), counted in metrics."""
    state.metrics.rate_limited.inc()
    return Problem(429, detail, reason=reason, retry_after=RateLimiter.retry_after_header(wait))


def client_address(request: Request) -> str:
    """The client's address, for per-address limits: the peer's, or behind a trusted reverse proxy the
    nearest address in X-Forwarded-For that is not itself a trusted proxy (the left part of that header is
    whatever the client wrote)."""
    state: GatewayState = request.app.state.gateway
    peer = request.client.host if request.client else "unknown"
    if not state.trusted_proxies or not _trusted(peer, state.trusted_proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _trusted(hop, state.trusted_proxies):
            return hop
    return peer


def _trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _too_many_failures(state: GatewayState, wait: float) -> Problem:
    detail = "too many failed authentications from this address; try again later"
    return rate_limited(state, wait, detail, reason="AUTH_RATE_LIMITED")


async def authenticated_call(request: Request) -> UserCall:
    # The header is read directly rather than declared: it is not part of the documented parameters
    # (auth is described once in the API's description), and declaring it costs a parse per request.
    state: GatewayState = request.app.state.gateway
    address = client_address(request)
    # An address whose credentials keep failing gets no more backend lookups for a while; JWTs and keys
    # already known good are still accepted, so clients sharing a proxy's address are not all shut out.
    blocked = state.auth_failures.wait(address)
    try:
        principal = await state.authenticator.authenticate(
            request.headers.get("authorization"), lookups=blocked is None
        )
    except LookupRefused:
        raise _too_many_failures(state, blocked or 1.0) from None
    except Problem as problem:
        if problem.status == 401:
            state.auth_failures.acquire(address)
            if blocked is not None:
                raise _too_many_failures(state, blocked) from None
        raise
    rate_limit(state, principal.user_id)
    return UserCall(state, principal)


async def admin_call(call: Annotated[UserCall, Depends(authenticated_call)]) -> UserCall:
    if not call.principal.is_admin:
        raise Problem(403, "this route needs an admin API key", reason="ADMIN_REQUIRED")
    return call


UserCallDep = Annotated[UserCall, Depends(authenticated_call)]
AdminCallDep = Annotated[UserCall, Depends(admin_call)]

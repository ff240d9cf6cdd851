"""Channels for calling other videojobs services: internal token and request id added to every call.

Services talk only through gRPC; this is the one place that knows what an internal call carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from videojobs import context
from videojobs.message_limits import message_size_options

# Calls from one service to another are short; keepalive keeps long streams (WatchJob) alive through NATs.
# A peer that was down is tried again at least every 5 s (gRPC's default backs off to 120 s), so callers
# that wait for it (the orchestrator's steps) resume soon after it is back.
_CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)

Metadata = Sequence[tuple[str, str | bytes]]


def _with_internal_metadata(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = list(details.metadata or ())
    present = {key for key, _ in metadata}
    if "authorization" not in present:
        metadata.append(("authorization", f"Bearer {token}"))
    request_id = context.request_id.get()
    if request_id and "x-request-id" not in present:
        metadata.append(("x-request-id", request_id))
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=grpc.aio.Metadata(*metadata),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _InternalMetadata:
    # grpc.aio files an interceptor under the first kind of call it is an instance of, so each kind of call
    # needs its own class; they share the token.
    def __init__(self, token: str) -> None:
        self._token = token


class _UnaryUnary(_InternalMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_internal_metadata(client_call_details, self._token), request)


class _UnaryStream(_InternalMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_internal_metadata(client_call_details, self._token), request)


def direct_channel(target: str) -> grpc.aio.Channel:
    """`internal_channel` without its interceptors: each call passes `internal_metadata(...)` itself.

    For a hot path (the HTTP gateway): a grpc.aio client interceptor adds a task and a metadata copy per call.
    """
    return grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)


def internal_metadata(token: str, request_id: str | None) -> tuple[tuple[str, str], ...]:
    """What `internal_channel` adds to each call: the internal token and, if there is one, the request id."""
    authorization = ("authorization", f"Bearer {token}")
    return (authorization, ("x-request-id", request_id)) if request_id else (authorization,)


def internal_channel(target: str, token: str, *, max_message_bytes: int | None = None) -> grpc.aio.Channel:
    """An insecure channel to `target` ("host:port") whose calls carry the internal token and request id.

    Plaintext because services run on a private network or sidecar mesh (mTLS terminates there).
    `max_message_bytes` raises gRPC's 4 MiB message limit (see videojobs.message_limits).
    """
    return grpc.aio.insecure_channel(
        target,
        options=_CHANNEL_OPTIONS + message_size_options(max_message_bytes),
        interceptors=[_UnaryUnary(token), _UnaryStream(token)],
    )

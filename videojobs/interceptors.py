"""The server interceptor every service installs.

For each RPC it: checks the internal bearer token, reads the user (`x-user-id-bin`, UTF-8, or the ASCII
`x-user-id`; see videojobs.identity) and `x-user-role` into the caller context,
takes or makes an `x-request-id`, binds them to the log context, and turns any `ServiceError` raised below
it into a rich gRPC status (unexpected exceptions become INTERNAL without leaking their text).
Health checks and reflection are left open so probes and `grpcurl list` work without the token.
"""

from __future__ import annotations

import contextlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import structlog

from videojobs import context, errors, identity, rpc_status
from videojobs.logs import get_logger

log = get_logger(__name__)

OPEN_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# grpc's handler objects are dynamically shaped (four behavior slots, one filled); typed loosely here only.
Handler = Any
Context = grpc.aio.ServicerContext[Any, Any]


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, internal_token: str) -> None:
        self._expected = f"Bearer {internal_token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICE_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        return _wrap(handler, _CallScope(method, metadata, self._expected))


class _CallScope:
    """Everything done around one RPC's behavior: identity, request id, logging, error mapping."""

    def __init__(self, method: str, metadata: Mapping[str, str | bytes], expected_token: bytes) -> None:
        self.method = method
        self.metadata = metadata
        self.expected_token = expected_token
        self.request_id = _text(metadata.get("x-request-id")) or uuid.uuid4().hex
        self.started = time.perf_counter()
        self.code = "OK"
        self.bad_user_id: str | None = None

    def enter(self, ctx: Context) -> tuple[Any, ...]:
        caller = None
        try:
            user_id = identity.from_metadata(dict(self.metadata))
        except UnicodeDecodeError:
            user_id, self.bad_user_id = "", "is not UTF-8"
        if user_id and (problem := identity.user_id_problem(user_id)):
            user_id, self.bad_user_id = "", problem
        if user_id:
            caller = context.Caller(user_id=user_id, role=_text(self.metadata.get("x-user-role")) or "user")
        ctx.set_trailing_metadata((("x-request-id", self.request_id),))
        return (
            context.request_id.set(self.request_id),
            context.set_caller(caller),
            structlog.contextvars.bind_contextvars(
                request_id=self.request_id, user_id=user_id or None, method=self.method
            ),
        )

    def leave(self, tokens: tuple[Any, ...]) -> None:
        log.info("rpc", code=self.code, duration_ms=round((time.perf_counter() - self.started) * 1000, 2))
        request_token, caller_token, log_tokens = tokens
        try:
            structlog.contextvars.reset_contextvars(**log_tokens)
            context.reset_caller(caller_token)
            context.request_id.reset(request_token)
        except ValueError:
            # A stream the client abandoned is closed from another task, in another context: there is
            # nothing to restore there, and this call's own context is discarded with its task.
            pass

    def authenticate(self) -> None:
        presented = _text(self.metadata.get("authorization")).encode()
        if not hmac.compare_digest(presented, self.expected_token):
            raise errors.Unauthenticated(
                "missing or invalid internal token (authorization: Bearer <VIDEOJOBS_INTERNAL_TOKEN>)",
                reason="INVALID_INTERNAL_TOKEN",
            )
        if self.bad_user_id is not None:
            # Checked after the token: only a trusted caller learns why its user id was refused.
            raise errors.Unauthenticated(
                f"the user id in {identity.USER_ID_BIN_HEADER} {self.bad_user_id}", reason="USER_ID_INVALID"
            )

    @contextlib.asynccontextmanager
    async def running(self, ctx: Context) -> AsyncIterator[None]:
        """The call's whole life: context bound, caller authenticated, and every failure (raised before or
        while the handler runs) leaving through the one status mapping; `fail` always aborts."""
        tokens = self.enter(ctx)
        try:
            self.authenticate()
            yield
        except grpc.aio.AbortError:
            self.code = "ABORTED"
            raise
        except Exception as error:  # noqa: BLE001 - every failure leaves through the status mapping
            await self.fail(ctx, error)
        finally:
            self.leave(tokens)

    async def fail(self, ctx: Context, error: Exception) -> None:
        if not isinstance(error, errors.ServiceError):
            log.exception("unhandled error")
            error = errors.Internal(f"internal error (request id {self.request_id})")
        self.code = error.code
        status = rpc_status.to_status(error)
        await ctx.abort(
            status.code, status.details, (*status.trailing_metadata, ("x-request-id", self.request_id))
        )


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _wrap(handler: Handler, scope: _CallScope) -> Handler:
    if handler.response_streaming:
        stream_behavior = handler.unary_stream or handler.stream_stream

        async def streaming(request: Any, ctx: Context) -> AsyncIterator[Any]:
            async with scope.running(ctx):
                async for response in stream_behavior(request, ctx):
                    yield response

        make_stream = (
            grpc.stream_stream_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return make_stream(streaming, handler.request_deserializer, handler.response_serializer)

    unary_behavior = handler.unary_unary or handler.stream_unary

    async def unary(request: Any, ctx: Context) -> Any:
        async with scope.running(ctx):
            return await unary_behavior(request, ctx)

    make_unary = (
        grpc.stream_unary_rpc_method_handler
        if handler.request_streaming
        else grpc.unary_unary_rpc_method_handler
    )
    return make_unary(unary, handler.request_deserializer, handler.response_serializer)

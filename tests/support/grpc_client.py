"""Calling services in tests the way the gateway does: internal token, user id, role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from videojobs import identity, rpc_status
from videojobs.settings import DEV_INTERNAL_TOKEN

_Detail = TypeVar("_Detail", bound=Message)


def metadata(
    user: str | None = None, *, role: str | None = None, token: str | None = DEV_INTERNAL_TOKEN
) -> tuple[tuple[str, str | bytes], ...]:
    items: list[tuple[str, str | bytes]] = []
    if token is not None:
        items.append(("authorization", f"Bearer {token}"))
    if user is not None:
        items.append(identity.metadata(user))
    if role is not None:
        items.append(("x-user-role", role))
    return tuple(items)


@dataclass
class RpcFailure:
    code: grpc.StatusCode
    message: str
    error: grpc.aio.AioRpcError

    def detail(self, kind: type[_Detail]) -> _Detail | None:
        return rpc_status.detail_of(rpc_status.status_of(self.error), kind)

    @property
    def reason(self) -> str:
        """The ErrorInfo reason ("" when the status has none)."""
        info = self.detail(error_details_pb2.ErrorInfo)
        return info.reason if info else ""

    @property
    def retry_seconds(self) -> int | None:
        """The whole seconds of the RetryInfo delay (None when the status has no RetryInfo)."""
        retry = self.detail(error_details_pb2.RetryInfo)
        return retry.retry_delay.seconds if retry else None

    @property
    def fields(self) -> list[str]:
        """The fields the BadRequest detail names, in order ([] when there is none)."""
        bad = self.detail(error_details_pb2.BadRequest)
        return [violation.field for violation in bad.field_violations] if bad else []


def failure(error: grpc.aio.AioRpcError) -> RpcFailure:
    return RpcFailure(error.code(), error.details() or "", error)


async def rpc_failure(call: Callable[..., object], request: object) -> RpcFailure:
    """The failure a call from a peer service (internal token, no user) ends in; fails the test when the
    call succeeds."""
    try:
        await call(request, metadata=metadata(), timeout=20)  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return failure(error)
    pytest.fail("the call succeeded")

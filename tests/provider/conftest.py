"""provider_service tests: the real service on loopback, real adapters, fake providers over real sockets."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from tests.support.grpc_client import RpcFailure, failure, metadata
from tests.support.providers import (  # noqa: F401 - fixtures
    fal_fake,
    runway_fake,
    sim_provider,
    start_provider_service,
    veo_fake,
)

MD = metadata()


async def rpc_failure(call: Callable[..., object], request: object) -> RpcFailure:
    """The failure a call ends in; fails the test when it succeeds."""
    try:
        await call(request, metadata=MD, timeout=20)  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return failure(error)
    pytest.fail("the call succeeded")

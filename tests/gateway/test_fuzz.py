"""Property-based fuzzing of the whole OpenAPI document (schemathesis + hypothesis): no input is a 5xx.

Schemathesis calls the API synchronously, so the stack (job_service, a fake ProviderService, the gateway)
runs on its own event loop in a thread for this module.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok

from gateway.legacy_routes import SUCCESSORS
from gateway.main import create_app
from gateway.settings import GatewaySettings
from tests.support.gateway import stack_running
from tests.support.postgres import DatabaseFactory


@dataclass
class ThreadedStack:
    url: str
    key: str


@pytest.fixture(scope="module")
def threaded_stack(database_factory: DatabaseFactory) -> Iterator[ThreadedStack]:
    database_url = database_factory.create()
    ready = threading.Event()
    found: list[ThreadedStack] = []
    failures: list[BaseException] = []
    loop_box: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        loop_box.append((asyncio.get_running_loop(), stop))
        job = {"daily_limit": 1_000_000, "max_active": 1_000_000}
        async with stack_running(database_url, job, rate_limit_per_second=0) as stack:
            found.append(ThreadedStack(stack.url, await stack.key("fuzzer")))
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:
            failures.append(error)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="fuzz-stack", daemon=True)
    thread.start()
    ready.wait(60)
    if failures:
        raise failures[0]
    try:
        yield found[0]
    finally:
        loop, stop = loop_box[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        database_factory.drop(database_url)


Operation = APIOperation[Any, Any, Any, Any]


def _operation(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    if isinstance(result, Err):
        raise result.err()  # our own document must be valid: fail collection rather than skip an operation
    return result.ok()


# The document the gateway serves at /openapi.json, loaded without a server so pytest can list operations.
OPERATIONS = [
    _operation(result)
    for result in schemathesis.openapi.from_dict(create_app(GatewaySettings()).openapi()).get_all_operations()
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_input_is_a_server_error(operation: Operation, threaded_stack: ThreadedStack) -> None:
    auth = {"authorization": f"Bearer {threaded_stack.key}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=threaded_stack.url, headers=auth, timeout=10)
        assert response.status_code < 500, (
            case.method,
            case.formatted_path,
            response.status_code,
            response.text,
        )
        if response.status_code >= 400 and operation.path in SUCCESSORS:  # the old clients' own error shape
            assert response.headers["content-type"] == ["application/json"], response.text
            assert "error" in response.json(), response.text
        elif response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"], response.text

    check()

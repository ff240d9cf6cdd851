"""The gateway's stack fixtures (tests.support.gateway): a real gateway in front of a real job_service."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.gateway import Stack, StartStack, stack_running
from tests.support.services import starting


@pytest.fixture
async def start_stack(database_url: str) -> AsyncIterator[StartStack]:
    """start(job={...JobServiceSettings overrides}, **GatewaySettings overrides) -> Stack."""
    async with starting(functools.partial(stack_running, database_url)) as start:
        yield start


@pytest.fixture
async def stack(start_stack: StartStack) -> Stack:
    return await start_stack()


@pytest.fixture
async def anonymous(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        yield client


@pytest.fixture
async def alice(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with await stack.client("alice") as client:
        yield client


@pytest.fixture
async def bob(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with await stack.client("bob") as client:
        yield client

"""What a client may cost the gateway before it has sent a whole request, over raw sockets: a head or body
trickled a byte at a time, a connection that sends nothing, an oversized head, too many connections, an idle
kept-alive connection. Each is cut off by a limit, and the gateway keeps answering everyone else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from gateway.server import RunningGateway
from tests.support.services import LOOPBACK, gateway_running, gateway_settings, starting

StartGateway = Callable[..., Awaitable[RunningGateway]]
CLOSED_PORT = 9  # nothing listens: these tests need no backend


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:

    def running(**overrides: object) -> AbstractAsyncContextManager[RunningGateway]:
        return gateway_running(gateway_settings(CLOSED_PORT, CLOSED_PORT, **overrides))

    async with starting(running) as start:
        yield start


async def connect(gateway: RunningGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(LOOPBACK, gateway.port)


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    """Send `data` a byte at a time until it is all sent or the gateway closes the connection."""
    for byte in data:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)


async def answer_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the gateway sends until it closes the connection (fails if it stays open longer)."""
    async with asyncio.timeout(seconds):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def send_until_closed(writer: asyncio.StreamWriter, chunk: bytes, at_most: int) -> int:
    """Bytes sent as fast as possible before the gateway closed the connection (fails if it never does)."""
    sent = 0
    async with asyncio.timeout(10):
        while sent < at_most:
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                return sent
            sent += len(chunk)
    pytest.fail(f"the gateway took {sent} bytes of request head")


async def still_serving(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("at_once", "trickled", "every"),
    [
        pytest.param(
            b"", b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 200 + b"\r\n\r\n", 0.05, id="head"
        ),
        # The head arrives at once; the body (which the webhook route reads) a byte every 100 ms.
        pytest.param(
            b"POST /v1/webhooks/sim HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n",
            b"{" * 1000,
            0.1,
            id="body",
        ),
    ],
)
async def test_a_trickled_request_head_or_body_is_cut_off(
    start_gateway: StartGateway, at_once: bytes, trickled: bytes, every: float
) -> None:
    gateway = await start_gateway(request_head_timeout_seconds=1.0, request_body_timeout_seconds=1.0)
    reader, writer = await connect(gateway)
    started = time.monotonic()
    writer.write(at_once)
    sender = asyncio.create_task(trickle(writer, trickled, every=every))

    answer = await answer_within(reader, 5)

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 0.9 < time.monotonic() - started < 4
    sender.cancel()
    writer.close()
    await still_serving(gateway)


async def test_a_connection_that_sends_nothing_is_closed(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(request_head_timeout_seconds=1.0)
    reader, writer = await connect(gateway)
    answer = await answer_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    writer.close()


async def test_the_deadline_restarts_for_each_request_of_a_kept_alive_connection(
    start_gateway: StartGateway,
) -> None:
    """A connection that sends whole requests in time is never cut off, however long it lives."""
    gateway = await start_gateway(request_head_timeout_seconds=1.0, keep_alive_timeout_seconds=2)
    reader, writer = await connect(gateway)
    for _ in range(4):
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        status = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
        assert status.startswith(b"HTTP/1.1 200 "), status
        await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 5)
        await asyncio.sleep(0.6)
    writer.close()


async def test_an_oversized_request_head_is_refused(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(max_header_bytes=16 * 1024)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        fits = await client.get("/healthz", headers={"x-big": "a" * 15_000})
    assert fits.status_code == 200

    reader, writer = await connect(gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
    answer = await answer_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    writer.close()


async def test_an_endless_request_head_does_not_grow_the_gateway(start_gateway: StartGateway) -> None:
    """Megabytes of head, sent as fast as possible: the gateway closes the connection at the limit instead of
    buffering them (the issue's 8 MB header got 200 OK)."""
    gateway = await start_gateway(max_header_bytes=16 * 1024)
    _, writer = await connect(gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent = await send_until_closed(writer, b"a" * 65536, at_most=8 * 1024 * 1024)
    assert sent < 8 * 1024 * 1024  # what was sent sits in loopback's socket buffers, not in the gateway
    writer.close()
    await still_serving(gateway)


async def test_connections_past_the_limit_get_503(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(max_connections=4, request_head_timeout_seconds=30)
    idle = [await connect(gateway) for _ in range(4)]
    async with asyncio.timeout(5):  # until the server has accepted all four
        while len(gateway.server.server_state.connections) < 4:  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 503
    for _, writer in idle:
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(5):
        while True:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
                if (await client.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.05)


async def test_an_idle_kept_alive_connection_is_closed(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(keep_alive_timeout_seconds=1)
    reader, writer = await connect(gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 5)
    started = time.monotonic()
    assert await answer_within(reader, 5) == b""
    assert 0.9 < time.monotonic() - started < 4
    writer.close()

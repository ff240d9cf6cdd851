"""WatchJob as Server-Sent Events: one event per job transition, heartbeats, resumable with Last-Event-ID.

Each event's `id` is the job event's sequence, so a browser's EventSource (or any client sending
Last-Event-ID) resumes exactly after the last event it saw. The stream ends after a terminal state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from gateway.convert import event_json
from videojobs.contract import TERMINAL_JOB_STATES
from videojobs.v1 import job_service_pb2

RETRY_MILLISECONDS = 2000
_END = object()
_TERMINAL = frozenset(job_service_pb2.JobState.Value(state) for state in TERMINAL_JOB_STATES)

WatchCall = grpc.aio.UnaryStreamCall[Any, job_service_pb2.JobEvent]


def format_event(event: job_service_pb2.JobEvent) -> bytes:
    data = json.dumps(event_json(event), separators=(",", ":"))
    state = job_service_pb2.JobState.Name(event.state)
    return f"id: {event.sequence}\nevent: {state.lower()}\ndata: {data}\n\n".encode()


def format_error(status: int, detail: str) -> bytes:
    return f"event: error\ndata: {json.dumps({'status': status, 'detail': detail})}\n\n".encode()


def parse_last_event_id(value: str | None) -> int:
    """The sequence to resume after; anything that is not a sequence number starts over (0)."""
    if value is None:
        return 0
    text = value.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else 0


class Watch:
    """A WatchJob call read by a task into a queue, so waiting with heartbeats never cancels a gRPC read."""

    def __init__(self, call: WatchCall) -> None:
        self._call = call
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
        self._reader = asyncio.create_task(self._pump())
        self._first: object = None

    async def _pump(self) -> None:
        try:
            async for message in self._call:
                await self._queue.put(message)
        except grpc.aio.AioRpcError as error:
            await self._queue.put(error)
        finally:
            await self._queue.put(_END)

    async def start(self, within: float) -> None:
        """Raise the call's error if it fails at once (a missing job is a 404 before any SSE byte)."""
        try:
            self._first = await asyncio.wait_for(self._queue.get(), within)
        except TimeoutError:
            return  # resuming a quiet job: nothing new yet, which is fine
        if isinstance(self._first, grpc.aio.AioRpcError):
            await self.close()
            raise self._first

    async def close(self) -> None:
        self._call.cancel()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _next(self, heartbeat_seconds: float) -> object | None:
        if self._first is not None:
            item, self._first = self._first, None
            return item
        try:
            return await asyncio.wait_for(self._queue.get(), heartbeat_seconds)
        except TimeoutError:
            return None

    async def body(self, heartbeat_seconds: float) -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            while True:
                item = await self._next(heartbeat_seconds)
                if item is None:
                    yield b": keep-alive\n\n"
                elif item is _END:
                    return
                elif isinstance(item, grpc.aio.AioRpcError):
                    # The HTTP status is already sent: say so in-band; clients reconnect with Last-Event-ID.
                    yield format_error(503, "the event stream was interrupted; reconnect with Last-Event-ID")
                    return
                else:
                    assert isinstance(item, job_service_pb2.JobEvent)
                    yield format_event(item)
                    if item.state in _TERMINAL:
                        return
        finally:
            await self.close()

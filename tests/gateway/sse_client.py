"""Reading Server-Sent Events over httpx, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseEvent:
    event: str
    id: str | None
    data: dict[str, Any] | None


@dataclass
class SseStream:
    events: list[SseEvent] = field(default_factory=list)
    comments: int = 0
    retry: int | None = None


async def read_events(
    client: httpx.AsyncClient,
    path: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    within: float = 60.0,
) -> SseStream:
    """Read until the server ends the stream (or `stop_after` events), failing after `within` seconds: the
    server's keep-alive comments would otherwise hold a stream that never ends open forever."""
    headers = {"accept": "text/event-stream"}
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    stream = SseStream()
    async with asyncio.timeout(within), client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                stream.comments += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                if "retry" in fields:
                    stream.retry = int(fields["retry"])
                if "event" in fields or "data" in fields:
                    data = json.loads(fields["data"]) if "data" in fields else None
                    stream.events.append(SseEvent(fields.get("event", "message"), fields.get("id"), data))
                fields = {}
                if stop_after is not None and len(stream.events) >= stop_after:
                    break
    return stream

"""A real HTTP receiver of outbound webhooks on loopback (provider_service.local_http), recording every
request; verification is the Standard Webhooks library's (`standardwebhooks`), never our own signing code.

    with webhook_receiver(statuses=[500, 500, 500]) as receiver:   # then 200 for ever
        ... register receiver.url ...
        await receiver.wait_for(4)
        receiver.verified(secret)   # every body, signature checked
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook

from provider_service.local_http import Drop, LocalHttpServer, Request, Response


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str) -> Any:
        """The payload, once `standardwebhooks` accepted the signature (it raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    def __init__(self, answer: Callable[[Request], Response | Drop]) -> None:
        self._answer = answer
        self._changed = threading.Condition()
        self.received: list[Received] = []
        self.server = LocalHttpServer(self._handle)

    @property
    def url(self) -> str:
        return f"{self.server.url}/hooks"

    def _handle(self, request: Request) -> Response | Drop:
        result = self._answer(request)
        with self._changed:
            self.received.append(Received(request.headers, request.body))
            self._changed.notify_all()
        return result

    def _wait(self, done: Callable[[list[Received]], bool], within: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: done(self.received), timeout=within)

    async def wait_until(
        self, done: Callable[[list[Received]], bool], within: float = 30.0
    ) -> list[Received]:
        """The requests so far, once `done(requests)` holds; AssertionError after `within` seconds."""
        if not await asyncio.to_thread(self._wait, done, within):
            raise AssertionError(f"the receiver did not get what was awaited: {len(self.received)} requests")
        with self._changed:
            return list(self.received)

    async def wait_for(self, count: int, within: float = 30.0) -> list[Received]:
        return await self.wait_until(lambda received: len(received) >= count, within)

    def verified(self, secret: str) -> list[Any]:
        with self._changed:
            return [received.verify(secret) for received in self.received]


def scripted(statuses: list[int]) -> Callable[[Request], Response]:
    """Answer with these statuses in turn, then 200 for ever."""
    lock = threading.Lock()
    remaining = list(statuses)

    def answer(_request: Request) -> Response:
        with lock:
            status = remaining.pop(0) if remaining else 200
        return Response.json({"status": status}, status)

    return answer


@contextmanager
def webhook_receiver(
    statuses: list[int] | None = None, answer: Callable[[Request], Response | Drop] | None = None
) -> Iterator[Receiver]:
    receiver = Receiver(answer or scripted(statuses or []))
    receiver.server.start()
    try:
        yield receiver
    finally:
        receiver.server.stop()

"""Outbound webhooks in tests: a real HTTP receiver on loopback (provider_service.local_http) recording every
request, verified with the Standard Webhooks library (`standardwebhooks`), never our own signing code; and
the pipeline's webhook calls (register an endpoint, list and await deliveries).

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
from standardwebhooks.webhooks import WebhookVerificationError

from provider_service.local_http import Drop, LocalHttpServer, Request, Response
from tests.support.grpc_client import metadata
from tests.support.pipeline import Pipeline
from videojobs.v1 import job_service_pb2


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


def delivered(received: list[Received], secret: str) -> dict[int, set[str]]:
    """The webhook-ids that arrived whole and verified, by event sequence. A request whose sender was killed
    while sending it arrives cut off: it fails verification, as at a real receiver, and is left out."""
    found: dict[int, set[str]] = {}
    for item in received:
        try:
            payload = item.verify(secret)
        except WebhookVerificationError:
            continue
        found.setdefault(payload["sequence"], set()).add(item.webhook_id)
    return found


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


# Retries in tens of milliseconds, senders that look often.
FAST_WEBHOOKS: dict[str, Any] = {
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_max_seconds": 0.2,
    "webhook_poll_seconds": 0.05,
    "webhook_timeout_seconds": 5.0,
}


async def register(
    stack: Pipeline, url: str, event_types: list[str], user: str = "alice"
) -> job_service_pb2.WebhookEndpointWithSecret:
    request = job_service_pb2.CreateWebhookEndpointRequest(url=url, event_types=event_types)
    return await stack.stub.CreateWebhookEndpoint(request, metadata=metadata(user))


async def deliveries(
    stack: Pipeline, job_id: str, user: str = "alice"
) -> list[job_service_pb2.WebhookDelivery]:
    request = job_service_pb2.ListWebhookDeliveriesRequest(job_id=job_id, page_size=100)
    return list((await stack.stub.ListWebhookDeliveries(request, metadata=metadata(user))).deliveries)


async def settled(
    stack: Pipeline, job_id: str, count: int, user: str = "alice", within: float = 30.0
) -> list[job_service_pb2.WebhookDelivery]:
    """The job's `count` deliveries once none is pending (the last answer may still be being recorded)."""
    async with asyncio.timeout(within):
        while True:
            found = await deliveries(stack, job_id, user)
            if len(found) == count and all(d.state != "PENDING" for d in found):
                return found
            await asyncio.sleep(0.05)


async def endpoint_once(
    stack: Pipeline, endpoint_id: str, done: Any, within: float = 30.0
) -> job_service_pb2.WebhookEndpoint:
    """The endpoint once `done(endpoint)` holds."""
    request = job_service_pb2.GetWebhookEndpointRequest(id=endpoint_id)
    async with asyncio.timeout(within):
        while True:
            got = await stack.stub.GetWebhookEndpoint(request, metadata=metadata("alice"))
            if done(got):
                return got
            await asyncio.sleep(0.05)

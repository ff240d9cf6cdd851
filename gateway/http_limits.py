"""What a client may cost the gateway before it has sent a whole request.

uvicorn enforces some limits itself: the largest request head (h11's `max_incomplete_event_size`), the
connections one worker serves (`limit_concurrency`: past it, requests get 503) and the keep-alive timeout.
It has no deadline for receiving a request: a client trickling its head or body a byte at a time holds its
connection (and a task) for as long as it likes. `GuardedH11Protocol` adds one: the head must arrive within
`request_head_timeout`, counted from the connection (or from the first byte of a kept-alive connection's
next request), and the body within `request_body_timeout` of the head. Past either, the client gets
408 (if nothing was answered yet) and the connection is closed. It also measures each head before h11
parses it (h11 bounds only incomplete heads): a larger one gets 431. The h11 implementation is used
rather than httptools because httptools puts no bound on the head's size.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.settings import GatewaySettings

_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head


def _refusal(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
    )


_TIMED_OUT = _refusal(b"408 Request Timeout", b"the request was not received in time\n")
_HEAD_TOO_LARGE = _refusal(b"431 Request Header Fields Too Large", b"the request head is too large\n")


class LimitedConfig(uvicorn.Config):
    """uvicorn's configuration plus the request-receiving deadlines (pickled as is to worker processes)."""

    def __init__(self, app: Any, *, request_head_timeout: float, request_body_timeout: float, **kwargs: Any):
        super().__init__(app, **kwargs)
        self.request_head_timeout = request_head_timeout
        self.request_body_timeout = request_body_timeout


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request's head, then its body."""

    _phase: str | None = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch(fresh=True)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)
        self._watch()

    def _head_too_large(self, data: bytes) -> bool:
        """h11 bounds only a head that is still incomplete: one that arrives whole in a single read (up to
        256 KiB) would pass. So the head is measured here, before h11 sees it."""
        limit: int = self.config.h11_max_incomplete_event_size or 0
        pending = self.conn.trailing_data[0]
        window = bytes(pending[: limit + 2]) + data[: limit + 2] if pending else data[: limit + 2]
        end = _HEAD_END.search(window)
        return (end.end() if end else len(pending) + len(data)) > limit

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_phase(None)
        super().connection_lost(exc)

    def _watch(self, *, fresh: bool = False) -> None:
        """Which part of a request we are waiting for; the deadline restarts only when that changes."""
        if self.transport.is_closing():
            phase = None
        elif self.conn.their_state is h11.SEND_BODY:
            phase = "body"
        elif self.conn.their_state is h11.IDLE and (fresh or self.conn.trailing_data[0]):
            # A new connection, or part of the next request's head: between requests with nothing
            # received, uvicorn's keep-alive timeout applies instead.
            phase = "head"
        else:
            phase = None
        if phase != self._phase:
            self._set_phase(phase)

    def _set_phase(self, phase: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            config: Any = self.config
            seconds = config.request_head_timeout if phase == "head" else config.request_body_timeout
            self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("closing a connection: its request %s was not received in time", self._phase)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app's answer, if any, goes nowhere: 408 was sent
                cycle.message_event.set()
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def server_config(settings: GatewaySettings, app: Any, **kwargs: Any) -> LimitedConfig:
    """The one uvicorn configuration of the gateway, embedded (tests, `videojobs up`) or served."""
    return LimitedConfig(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        http=GuardedH11Protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        request_head_timeout=settings.request_head_timeout_seconds,
        request_body_timeout=settings.request_body_timeout_seconds,
        access_log=False,
        proxy_headers=False,
        **kwargs,
    )

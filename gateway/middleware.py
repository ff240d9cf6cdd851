"""One ASGI middleware around every request: request id, body size limit, metrics.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses (SSE) pass straight through.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import Metrics
from gateway.problems import PROBLEM_JSON, Problem
from videojobs import context

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # visible ASCII, safe to log and forward


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _REQUEST_ID_RE.match(text):
                return text
            break
    return uuid.uuid4().hex


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        token = context.request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
                self.metrics.observe(
                    scope["method"], _route_template(scope), status, time.perf_counter() - started
                )
            await send(message)

        try:
            declared = _content_length(scope["headers"])
            if declared is not None and declared > self.max_body_bytes:
                await self._too_large(scope, send_with_id, request_id)
                return
            await self.app(scope, self._limited(receive), send_with_id)
        finally:
            context.request_id.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        """Counts a body sent without Content-Length (chunked) and stops it past the limit."""
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # An HTTPException, not a Problem: FastAPI turns any other error while it reads the
                    # body into a 400. The exception handler renders it as body_too_large's problem.
                    raise HTTPException(413, body_too_large(self.max_body_bytes).detail)
            return message

        return limited

    async def _too_large(self, scope: Scope, send: Send, request_id: str) -> None:
        body = json.dumps(body_too_large(self.max_body_bytes).body(scope["path"], request_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def body_too_large(limit: int) -> Problem:
    return Problem(413, f"request body is larger than {limit} bytes", reason="BODY_TOO_LARGE")


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope) -> str:
    # The template ("/v1/videos/{job_id}"), never the raw path, so label values stay few.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"

"""fal's queue API on loopback: submit, status (polled or streamed), result, cancel, output files, and signed
webhooks."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provider_service import fal_webhook
from provider_service.catalog import sources
from provider_service.catalog.wire import Issue, validate
from provider_service.fakes.base import FakeJob, FakeProvider, Route, tiny_video
from provider_service.local_http import Request, Response

_REQUEST = re.compile(
    r"^/((?:(?:workflows|comfy)/)?[\w.-]+/[\w.-]+)/requests/([\w.-]+)(/status/stream|/status|/cancel)?$"
)
# How often the stream looks at its request for news (the real queue pushes them; this is the fake's lag).
_STREAM_TICK = 0.02
_FILE = re.compile(r"^/files/([\w.-]+)/output\.mp4$")
_FAILURE_TYPE = "file_download_error"
# fal's request (infrastructure) error types and the HTTP status each comes with (docs: request-errors);
# every other type is a model error, answered 422 with `detail[]`.
REQUEST_ERROR_STATUS = {
    "request_timeout": 504,
    "startup_timeout": 504,
    "runner_scheduling_failure": 503,
    "runner_connection_timeout": 503,
    "runner_disconnected": 503,
    "runner_connection_refused": 503,
    "runner_connection_error": 503,
    "runner_incomplete_response": 502,
    "runner_server_error": 500,
    "client_disconnected": 499,
    "client_cancelled": 499,
    "bad_request": 400,
    "internal_error": 500,
}


class FalFake(FakeProvider):
    name = "fal"

    def __init__(self, key: str = "fal-fake-key") -> None:
        super().__init__()
        self.key = key
        self.signing_key = Ed25519PrivateKey.generate()
        self.webhook_urls: dict[str, str] = {}
        self.content_categories: list[str] = ["violence"]  # on content policy violations
        self.retryable_header: str | None = None  # X-Fal-Retryable on failed requests ("true"/"false")
        # The status stream: a comment line this often while nothing changes (fal documents 15 s), and the
        # next `cut_streams` streams close after their first event, without the terminal one.
        self.keepalive_seconds = 15.0
        self.cut_streams = 0
        self.open_streams = 0
        self.max_open_streams = 0
        self._streams_changed = threading.Condition(self.lock)

    @property
    def jwks(self) -> str:
        """The JWKS a deployment would cache to verify this fake's webhooks."""
        return fal_webhook.jwks_for([self.signing_key.public_key()])

    def route(self, request: Request) -> Route | None:
        if match := _REQUEST.match(request.path):
            app, request_id, tail = match.groups()
            if request.method == "GET" and tail == "/status":
                return "status", lambda r: self._status(r, app, request_id)
            if request.method == "GET" and tail == "/status/stream":
                return "status_stream", lambda r: self._status_stream(r, app, request_id)
            if request.method == "GET" and tail is None:
                return "result", lambda r: self._result(r, app, request_id)
            if request.method == "PUT" and tail == "/cancel":
                return "cancel", lambda r: self._cancel(r, app, request_id)
            return None
        if (match := _FILE.match(request.path)) and request.method == "GET":
            return "download", lambda r: Response(200, tiny_video(), {"Content-Type": "video/mp4"})
        if request.method == "POST" and request.path.count("/") >= 2:
            return "submit", self._submit
        return None

    def error_response(self, status: int, retry_after: float | None) -> Response:
        error_type = {503: "runner_scheduling_failure", 504: "request_timeout"}.get(status, "internal_error")
        headers = {"X-Fal-Error-Type": error_type}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return Response.json({"detail": f"fake {status}", "error_type": error_type}, status, headers)

    def unknown_status_response(self, request: Request) -> Response:
        return Response.json({"status": "PAUSED", "queue_position": None, "logs": None})

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Key {self.key}"

    def _submit(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response.json({"detail": "Unauthorized"}, 401)
        try:
            body: Any = request.json()
        except ValueError:
            return Response.json(
                {"detail": [{"loc": ["body"], "msg": "invalid JSON", "type": "json_invalid"}]}, 422
            )
        endpoint = request.path.strip("/")
        if endpoint not in sources.fal_endpoints():
            return Response.json({"detail": f"Application '{endpoint}' not found"}, 404)
        if not isinstance(body, dict):
            detail = [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
            return Response.json({"detail": detail}, 422)
        # fal validates the input with the model's pydantic model: the types @fal-ai/client declares for it.
        if issues := validate(sources.fal_schema(endpoint), body):
            self.refused.append(body)
            return Response.json({"detail": [pydantic_error(issue) for issue in issues]}, 422)
        # The queue files a request under its app: the first two segments of the endpoint id, three for the
        # namespaced ones (written out here, not shared with the adapter, so the two can disagree in a test).
        parts = request.path.strip("/").split("/")
        app = "/".join(parts[:3] if parts[0] in ("workflows", "comfy") else parts[:2])
        job = self.new_job(str(uuid.uuid4()), body)
        job.extra["app"] = app
        if request.query.get("fal_webhook"):
            self.webhook_urls[job.id] = request.query["fal_webhook"][0]
        base = f"{self.url}/{app}/requests/{job.id}"
        return Response.json(
            {
                "request_id": job.id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            }
        )

    def _job(self, request: Request, app: str, request_id: str) -> FakeJob | Response:
        if not self._authorized(request):
            return Response.json({"detail": "Unauthorized"}, 401)
        job = self.jobs.get(request_id)
        # The queue keeps a request under the app it was submitted to; any other app does not know it.
        if job is None or job.extra["app"] != app:
            return Response.json({"detail": "Request not found"}, 404)
        return job

    def _status(self, request: Request, app: str, request_id: str) -> Response:
        job = self._job(request, app, request_id)
        if isinstance(job, Response):
            return job
        self.answer_poll(job)
        return Response.json(self.status_view(job))

    def _status_stream(self, request: Request, app: str, request_id: str) -> Response:
        """Server-sent events, each `data:` the status answer's JSON, sent when the status changes; a comment
        line every `keepalive_seconds`; the stream ends after COMPLETED. Watching is not polling: it neither
        counts as a poll nor moves a polls-scripted request on."""
        job = self._job(request, app, request_id)
        if isinstance(job, Response):
            return job
        with self.lock:
            cut = self.cut_streams > 0
            self.cut_streams -= int(cut)
        first = _event(self.status_view(job))
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        if cut:
            # The first event, then the connection closes mid-stream (a proxy or the queue dropping it).
            return Response(200, iter([first, b": bye\n\n"]), headers, drop_after=len(first))
        return Response(200, self._events(job, first), headers)

    def _events(self, job: FakeJob, first: bytes) -> Iterator[bytes]:
        with self._streams_changed:
            self.open_streams += 1
            self.max_open_streams = max(self.max_open_streams, self.open_streams)
            self._streams_changed.notify_all()
        try:
            sent, quiet_since = first, time.monotonic()
            yield first
            while not sent.startswith(b'data: {"status": "COMPLETED"') and not self.server.stopping.is_set():
                self.server.stopping.wait(_STREAM_TICK)
                event = _event(self.status_view(job))
                if event != sent:
                    sent, quiet_since = event, time.monotonic()
                    yield event
                elif time.monotonic() - quiet_since >= self.keepalive_seconds:
                    quiet_since = time.monotonic()
                    yield b": keep-alive\n\n"
        finally:
            with self._streams_changed:
                self.open_streams -= 1
                self._streams_changed.notify_all()

    def streams_open(self, count: int, timeout: float) -> bool:
        """Whether `count` status streams are open within `timeout` seconds (0: all ended; a stream its client
        closed is noticed at its next write)."""
        with self._streams_changed:
            return self._streams_changed.wait_for(lambda: self.open_streams == count, timeout)

    def status_view(self, job: FakeJob) -> dict[str, Any]:
        if not job.finished:
            if job.polls_answered <= 1:
                return {"status": "IN_QUEUE", "queue_position": 2, "logs": None, "response_url": ""}
            return {"status": "IN_PROGRESS", "queue_position": None, "logs": [{"message": "step"}]}
        view: dict[str, Any] = {"status": "COMPLETED", "queue_position": None, "logs": None, "metrics": {}}
        code, payload, _ = self.result_answer(job)
        if code == 200:
            return view | {"metrics": {"inference_time": 1.5}}
        if isinstance(payload.get("detail"), list):
            # A model's own error: the status only says the request failed; the result says how.
            return view | {"error": f"Invalid status code: {code}"}
        return view | {"error": payload["detail"], "error_type": payload["error_type"]}

    def _failure_type(self) -> str:
        return self.script.failure_code or _FAILURE_TYPE

    def _result(self, request: Request, app: str, request_id: str) -> Response:
        job = self._job(request, app, request_id)
        if isinstance(job, Response):
            return job
        if not job.finished:
            return Response.json({"detail": "Request is still in progress"}, 400)
        status, payload, headers = self.result_answer(job)
        return Response.json(payload, status, headers)

    def result_answer(self, job: FakeJob) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The result endpoint's answer: the output, a model error (422, `detail[]`), or a request error
        (the status its type documents, `detail` text and `error_type`, header X-Fal-Error-Type)."""
        if job.cancelled:
            return self._request_error("client_cancelled", "Request was cancelled")
        if job.outcome == "content_violation":
            item: dict[str, Any] = {
                "loc": ["body", "prompt"],
                "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
                "input": job.input.get("prompt", ""),
            }
            if self.content_categories:
                item["categories"] = list(self.content_categories)
            return 422, {"detail": [item]}, {"X-Fal-Retryable": "false"}
        if job.outcome == "failure":
            error_type = self._failure_type()
            if error_type in REQUEST_ERROR_STATUS:
                return self._request_error(error_type, "The request failed")
            item = {
                "loc": ["body"],
                "msg": "The request could not be processed",
                "type": error_type,
                "url": f"https://docs.fal.ai/errors#{error_type}",
            }
            headers = {"X-Fal-Retryable": self.retryable_header} if self.retryable_header else {}
            return 422, {"detail": [item]}, headers
        video = {
            "url": f"{self.url}/files/{job.id}/output.mp4",
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(tiny_video()),
        }
        return 200, {"video": video, "seed": 123}, {}

    def _request_error(self, error_type: str, detail: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"X-Fal-Error-Type": error_type}
        if self.retryable_header:
            headers["X-Fal-Retryable"] = self.retryable_header
        body = {"detail": detail, "error_type": error_type}
        return REQUEST_ERROR_STATUS[error_type], body, headers

    def _cancel(self, request: Request, app: str, request_id: str) -> Response:
        job = self._job(request, app, request_id)
        if isinstance(job, Response):
            return Response.json({"status": "NOT_FOUND"}, 404) if job.status == 404 else job
        with self.lock:
            self.cancels[request_id] += 1
            if job.finished:
                return Response.json({"status": "ALREADY_COMPLETED"}, 400)
            job.cancelled = True
        return Response.json({"status": "CANCELLATION_REQUESTED"}, 202)

    def signed_webhook(
        self, request_id: str, *, timestamp: float | None = None, user_id: str = "fake-user"
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body fal would POST to the webhook URL for this request (as it stands now)."""
        job = self.jobs[request_id]
        status, payload, _ = self.result_answer(job)
        if status == 200:
            body: dict[str, Any] = {
                "request_id": request_id,
                "gateway_request_id": request_id,
                "status": "OK",
            }
            body["payload"] = payload
        else:
            body = {
                "request_id": request_id,
                "gateway_request_id": request_id,
                "status": "ERROR",
                "error": f"Invalid status code: {status}",
                "payload": payload,
            }
        raw = json.dumps(body).encode()
        sent = str(int(timestamp if timestamp is not None else time.time()))
        signature = self.signing_key.sign(fal_webhook.message(request_id, user_id, sent, raw)).hex()
        headers = {
            fal_webhook.REQUEST_ID: request_id,
            fal_webhook.USER_ID: user_id,
            fal_webhook.TIMESTAMP: sent,
            fal_webhook.SIGNATURE: signature,
        }
        return headers, raw


def _event(view: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(view)}\n\n".encode()


_TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "array": ("list_type", "Input should be a valid list"),
}


def pydantic_error(issue: Issue) -> dict[str, Any]:
    """One `detail[]` item as FastAPI/pydantic v2 writes it (fal's 422 body)."""
    loc = ["body", *issue.path]
    if issue.type == "missing":
        return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}
    if issue.type == "extra":
        return {
            "type": "extra_forbidden",
            "loc": loc,
            "msg": "Extra inputs are not permitted",
            "input": issue.value,
        }
    if issue.type == "literal":
        expected = " or ".join(repr(v) if isinstance(v, str) else str(v) for v in issue.expected)
        return {
            "type": "literal_error",
            "loc": loc,
            "msg": f"Input should be {expected}",
            "input": issue.value,
            "ctx": {"expected": expected},
        }
    if issue.type == "too_long":
        return {"type": "string_too_long", "loc": loc, "msg": f"String {issue.message}", "input": issue.value}
    if issue.type == "type":
        kind = issue.message.rsplit(" ", 1)[-1]
        error_type, message = _TYPE_ERRORS.get(kind, ("value_error", issue.message))
        return {"type": error_type, "loc": loc, "msg": message, "input": issue.value}
    return {"type": "value_error", "loc": loc, "msg": f"Value error, {issue.message}", "input": issue.value}

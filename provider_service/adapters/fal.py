"""fal.ai queue API: submit, status (polled, or followed as server-sent events), result, cancel
(`Authorization: Key ...`), and signed webhooks.

Our job id is `{owner}/{app}:{request_id}`: status, result and cancel live under the model's app (without
any subpath), and the service keeps no state to remember it in.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from httpx_sse import SSEError, aconnect_sse

from provider_service import fal_webhook
from provider_service.adapters.base import Adapter, Submission, bad_job_id, unknown_status, unsupported
from provider_service.calls import (
    PROVIDER_UNAVAILABLE,
    MalformedResponse,
    ProviderHttp,
    json_object,
    rejection,
)
from provider_service.domain import (
    CancelResult,
    GenerationRequest,
    State,
    Status,
    WebhookEvent,
    content_violation,
    failed,
)
from videojobs import errors

_MODEL = re.compile(r"^[\w.-]+/[\w.-]+(/[\w.-]+)*$")
_JOB_ID = re.compile(r"^((?:(?:workflows|comfy)/)?[\w.-]+/[\w.-]+):([\w.-]+)$")
# Endpoint ids under these namespaces name their app with three segments (fal_client's AppId).
_NAMESPACES = ("workflows", "comfy")

CONTENT_POLICY = "content_policy_violation"
# The status stream carries a comment line this often while nothing changes (fal's docs): a stream quiet for
# twice as long is a dead connection.
STREAM_KEEPALIVE_SECONDS = 15.0
ERROR_TYPE_HEADER = "x-fal-error-type"
RETRYABLE_HEADER = "x-fal-retryable"
# Nothing wrong with the request, another attempt may well work: fal's request (infrastructure) error types
# and the model error types that blame the service rather than the input.
_RETRYABLE_ERROR_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "internal_error",
        "client_disconnected",
        "internal_server_error",
        "generation_timeout",
        "downstream_service_error",
        "downstream_service_unavailable",
    }
)


def app_of(model: str) -> str:
    """The app of an endpoint id (`owner/app` or `namespace/owner/app`): where the queue keeps requests."""
    parts = model.split("/")
    return "/".join(parts[:3] if parts[0] in _NAMESPACES else parts[:2])


def map_error(error_type: str, message: str, reasons: tuple[str, ...] = ()) -> Status:
    """A failed fal request (status `error`/`error_type`, a 422 result, or an ERROR webhook)."""
    if error_type == CONTENT_POLICY:
        return content_violation(reasons or (message,), message or "fal refused the content")
    if error_type == "client_cancelled":
        return Status(State.CANCELLED)
    retryable = error_type in _RETRYABLE_ERROR_TYPES or error_type.startswith("runner_")
    return failed(
        f"FAL_{(error_type or 'error').upper()}", message or "fal request failed", retryable=retryable
    )


def _detail_error(payload: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(error type, message, reasons) from a fal error body: `detail` is a list of typed model errors
    (content policy items may name `categories`, which lead the reasons) or a request error's text."""
    detail = payload.get("detail")
    if isinstance(detail, list):
        items = [d for d in detail if isinstance(d, Mapping)]
        types = {str(d.get("type", "")) for d in items}
        messages = tuple(str(d.get("msg", "")) for d in items)
        categories = tuple(
            str(category)
            for d in items
            if d.get("type") == CONTENT_POLICY and isinstance(d.get("categories"), list)
            for category in d["categories"]
        )
        kind = (
            CONTENT_POLICY if CONTENT_POLICY in types else (sorted(types)[0] if types else "validation_error")
        )
        return kind, "; ".join(messages), tuple(dict.fromkeys((*categories, *messages)))
    return str(payload.get("error_type") or ""), str(detail or payload.get("error") or ""), ()


def video_urls(result: Mapping[str, Any]) -> tuple[str, ...]:
    """Output URLs from a model's result; shapes vary by model (`video`, `videos`)."""
    found: list[str] = []
    video = result.get("video")
    if isinstance(video, Mapping) and video.get("url"):
        found.append(str(video["url"]))
    for item in result.get("videos") or ():
        if isinstance(item, Mapping) and item.get("url"):
            found.append(str(item["url"]))
    return tuple(found)


def map_result(result: Mapping[str, Any]) -> Status:
    urls = video_urls(result)
    if not urls:
        return failed("FAL_NO_OUTPUT", "fal finished without a video in the result", retryable=True)
    return Status(State.SUCCEEDED, output_uris=urls, progress=1.0)


def map_queue_status(body: Mapping[str, Any]) -> Status | None:
    """A status answer as a common status; None for COMPLETED, whose result says how it went (a failed
    request's status may carry only an `error` text; the result's `detail[].type` classifies it)."""
    status = body.get("status")
    if status == "IN_QUEUE":
        return Status(State.QUEUED, queue_position=int(body.get("queue_position") or 0))
    if status == "IN_PROGRESS":
        return Status(State.RUNNING)
    if status == "COMPLETED":
        return None
    return unknown_status("fal", status)


class FalAdapter(Adapter):
    name = "fal"

    def __init__(
        self,
        http: ProviderHttp,
        *,
        key: str,
        queue_url: str,
        text_model: str,
        image_model: str,
        webhook_url: str | None = None,
        webhook_keys: fal_webhook.KeySet | None = None,
        webhook_tolerance: float = 300,
        stream_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(http, text_model=text_model, image_model=image_model)
        # Status streams get their own connections, so that however many are open, polls still find one.
        self.stream_client = stream_client or http.client
        self._headers = {"Authorization": f"Key {key}"}
        self.queue_url = queue_url.rstrip("/")
        self.webhook_url = webhook_url
        self.webhook_keys = webhook_keys or fal_webhook.KeySet()
        self.webhook_tolerance = webhook_tolerance

    async def submit(self, request: GenerationRequest) -> Submission:
        mapped = self.plan(request)
        # Every catalog input declares `prompt` as a required string; the mapped values use their own names.
        body: dict[str, Any] = {"prompt": request.prompt, **mapped.parameters}
        if request.image_uri:
            if not request.image_uri.startswith("https://"):
                raise unsupported(self.name, "spec.image_uri", "must be an https:// URL for fal")
            assert mapped.mode.image_field is not None  # image_to_video modes always have one
            body[mapped.mode.image_field] = request.image_uri
        model = mapped.model.id
        app = app_of(model)
        params = {}
        if self.webhook_url:
            separator = "&" if "?" in self.webhook_url else "?"
            params["fal_webhook"] = f"{self.webhook_url}{separator}{urlencode({'app': app})}"

        def request_id(response: httpx.Response) -> str:
            if response.is_error:
                raise _submit_rejection(response)
            value = json_object(response).get("request_id")
            if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value):
                raise MalformedResponse("fal answered without a request_id")
            return f"{app}:{value}"

        job_id = await self.http.submit(
            "POST", f"{self.queue_url}/{model}", request_id, json=body, params=params, headers=self._headers
        )
        return Submission(job_id, mapped.effective)

    def _app_and_id(self, job_id: str) -> tuple[str, str]:
        match = _JOB_ID.match(job_id)
        if not match:
            raise bad_job_id(job_id, self.name)
        return match.group(1), match.group(2)

    async def status(self, job_id: str) -> Status:
        app, request_id = self._app_and_id(job_id)
        base = f"{self.queue_url}/{app}/requests/{request_id}"

        def queue_status(response: httpx.Response) -> dict[str, Any]:
            if response.is_error:
                raise rejection(self.name, response, response.text[:200])
            return json_object(response)

        body = await self.http.call("GET", f"{base}/status", queue_status, headers=self._headers)
        status = map_queue_status(body)
        if status is not None:
            return status
        failed_request = bool(body.get("error") or body.get("error_type"))
        return await self.http.call(
            "GET",
            base,
            lambda response: map_result_response(response, body),
            # The request failed: its result answers with the failure's own status (5xx for runner
            # errors), which is the outcome to classify, not the queue being unavailable.
            final=is_error_answer if failed_request else None,
            headers=self._headers,
        )

    async def await_finished(self, job_id: str, max_wait: float) -> bool:
        """Follow `GET .../requests/{id}/status/stream` (each event's data is the status answer; the queue
        closes the stream after COMPLETED) until COMPLETED or `max_wait`. Not retried: a stream that cannot
        be opened, breaks or ends early is UNAVAILABLE, and polling covers the job meanwhile."""
        app, request_id = self._app_and_id(job_id)
        url = f"{self.queue_url}/{app}/requests/{request_id}/status/stream"
        connect = self.stream_client.timeout.connect
        timeout = httpx.Timeout(2 * STREAM_KEEPALIVE_SECONDS, connect=connect, pool=connect)
        try:
            async with (
                asyncio.timeout(max_wait),
                aconnect_sse(
                    self.stream_client, "GET", url, headers=dict(self._headers), timeout=timeout
                ) as source,
            ):
                response = source.response
                if response.is_error:
                    await response.aread()
                    if response.status_code in (408, 429) or response.status_code >= 500:
                        raise _stream_unavailable(f"HTTP {response.status_code}")
                    raise rejection(self.name, response, response.text[:200])
                async for event in source.aiter_sse():
                    body = json.loads(event.data)
                    if not isinstance(body, dict):
                        raise MalformedResponse("a status event that is not a JSON object")
                    if body.get("status") == "COMPLETED":
                        return True
        except TimeoutError:
            return False
        except (httpx.TransportError, SSEError, MalformedResponse, ValueError) as exc:
            raise _stream_unavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        raise _stream_unavailable("the stream ended before COMPLETED")

    async def cancel(self, job_id: str) -> CancelResult:
        app, request_id = self._app_and_id(job_id)

        def outcome(response: httpx.Response) -> CancelResult:
            # fal answers 202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED or 404 NOT_FOUND, all with JSON.
            try:
                state = str(json_object(response).get("status", ""))
            except MalformedResponse:
                if response.is_error:
                    raise rejection(self.name, response, response.text[:200]) from None
                raise
            if state in ("OK", "CANCELLATION_REQUESTED"):
                return CancelResult(cancelled=True, detail=state)
            if state in ("ALREADY_COMPLETED", "NOT_FOUND"):
                return CancelResult(cancelled=False, detail=state)
            if response.is_error:
                raise rejection(self.name, response, response.text[:200])
            return CancelResult(cancelled=True, detail=state or f"HTTP {response.status_code}")

        return await self.http.call(
            "PUT", f"{self.queue_url}/{app}/requests/{request_id}/cancel", outcome, headers=self._headers
        )

    async def aclose(self) -> None:
        await super().aclose()
        if self.stream_client is not self.http.client:
            await self.stream_client.aclose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, url: str) -> WebhookEvent:
        signed_id = fal_webhook.verify(
            headers, body, self.webhook_keys.keys(), tolerance=self.webhook_tolerance
        )
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise errors.InvalidArgument.field("body", "is not JSON") from exc
        if not isinstance(payload, dict) or payload.get("request_id") != signed_id:
            raise errors.InvalidArgument.field("body", "request_id does not match the signed request id")
        app = (parse_qs(urlsplit(url).query).get("app") or [""])[0] if url else ""
        if not _MODEL.match(app):
            app = app_of(self.text_model)  # our submit always adds ?app=; older URLs did not
        raw = payload.get("payload")
        result: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if payload.get("status") == "OK":
            status = map_result(result)
        else:
            kind, message, reasons = _detail_error(result)
            status = map_error(kind, message or str(payload.get("error") or ""), reasons)
        return WebhookEvent(provider_job_id=f"{app}:{signed_id}", status=status)


def is_error_answer(response: httpx.Response) -> bool:
    """Whether an error response is fal's account of a failed request (typed by header or body)."""
    if ERROR_TYPE_HEADER in response.headers or RETRYABLE_HEADER in response.headers:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and ("detail" in body or "error_type" in body)


def map_result_response(response: httpx.Response, completed: Mapping[str, Any] | None = None) -> Status:
    """The result endpoint's answer: the model's output, or the request's failure classified by its type
    (`detail[].type`, else `error_type` / X-Fal-Error-Type, else the COMPLETED status's `error_type`);
    X-Fal-Retryable, when fal sends it, decides whether another attempt may help."""
    if not response.is_error:
        return map_result(json_object(response))
    completed = completed or {}
    if not is_error_answer(response):
        if completed.get("error_type"):
            return map_error(str(completed["error_type"]), str(completed.get("error") or ""))
        raise rejection("fal", response, response.text[:200])
    try:
        kind, message, reasons = _detail_error(json_object(response))
    except MalformedResponse:
        kind, message, reasons = "", "", ()
    kind = kind or response.headers.get(ERROR_TYPE_HEADER, "") or str(completed.get("error_type") or "")
    if not kind and response.status_code in (400, 422):
        kind = "validation_error"
    status = map_error(kind, message or str(completed.get("error") or ""), reasons)
    hint = response.headers.get(RETRYABLE_HEADER, "").strip().lower()
    if status.error is not None and status.state is State.FAILED and hint in ("true", "false"):
        return failed(status.error.code, status.error.message, retryable=hint == "true")
    return status


def _stream_unavailable(cause: str) -> errors.Unavailable:
    return errors.Unavailable(
        f"fal's status stream failed ({cause[:200]}); poll instead",
        reason=PROVIDER_UNAVAILABLE,
        metadata={"provider": "fal"},
    )


def _submit_rejection(response: httpx.Response) -> errors.ServiceError:
    try:
        kind, message, reasons = _detail_error(json_object(response))
    except MalformedResponse:
        return rejection("fal", response, response.text[:200])
    if kind == CONTENT_POLICY:
        return errors.FailedPrecondition(
            f"fal refused the content: {message}"[:1000],
            reason="CONTENT_VIOLATION",
            metadata={"provider": "fal", "reasons": "; ".join(reasons)[:500]},
        )
    return rejection("fal", response, message)

"""RFC 9457 `application/problem+json`: the `Problem` every error becomes, and the one mapping from gRPC
status (with its rich details: ErrorInfo, BadRequest, RetryInfo, QuotaFailure) to it.

exception_handlers.py turns request validation and HTTP errors into Problems too and renders every one.
Nothing below ever carries a stack trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import grpc
from google.rpc import error_details_pb2

from videojobs import rpc_status
from videojobs.public_errors import public_message
from videojobs.rpc_status import ERROR_DOMAIN

INTERNAL_TOKEN_REFUSED = "INVALID_INTERNAL_TOKEN"  # noqa: S105 - a reason, not a secret

PROBLEM_JSON = "application/problem+json"

# The contract's table (docs/api.md); every other code is 500. DEADLINE_EXCEEDED is treated as UNAVAILABLE:
# the gateway's deadline only runs out when a backend is overloaded or stalled, which a client handles the
# same way (retry later; safe for creates with an Idempotency-Key, and every other RPC is a read or a
# transition). Why: docs/decisions/0005-deadline-exceeded-is-503.md.
GRPC_TO_HTTP: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 422,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
}

# What a client may be told when a status did not come from our own services (e.g. the transport failed):
# the raw gRPC text names internal addresses, so it is replaced.
_GENERIC_DETAIL: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "a backend service is unavailable; retry shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a backend service did not answer in time; retry shortly",
}
# A Retry-After even without RetryInfo, for the codes whose answer is "retry later".
_DEFAULT_RETRY_AFTER = {
    grpc.StatusCode.UNAVAILABLE: 1,
    grpc.StatusCode.DEADLINE_EXCEEDED: 1,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 1,
}


class Problem(Exception):
    """An HTTP problem raised anywhere in the gateway; rendered by the app's exception handler."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        reason: str | None = None,
        title: str | None = None,
        errors: Sequence[Mapping[str, str]] = (),
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.title = title or _phrase(status)
        self.errors = list(errors)
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, instance: str, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.reason),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.errors:
            body["errors"] = self.errors
        if self.retry_after is not None:
            body["retry_after_seconds"] = self.retry_after
        body["request_id"] = request_id
        return body | self.extra

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        if self.status == 401:
            headers.setdefault("www-authenticate", 'Bearer realm="videojobs"')
        return headers


def problem_type(reason: str | None) -> str:
    """A stable URI per machine reason (RFC 9457 3.1.1); about:blank when the status code says it all."""
    return f"urn:videojobs:problem:{reason.lower().replace('_', '-')}" if reason else "about:blank"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


FieldNames = Callable[[str], str]


def spec_field(name: str) -> str:
    """job_service names body fields `spec.prompt`; over HTTP they are top-level `prompt`."""
    return name.removeprefix("spec.")


def from_rpc_error(error: grpc.aio.AioRpcError, field_name: FieldNames = spec_field) -> Problem:
    code = error.code()
    status = GRPC_TO_HTTP.get(code, 500)
    rich = rpc_status.status_of(error)
    info = rpc_status.detail_of(rich, error_details_pb2.ErrorInfo)
    ours = info is not None and info.domain == ERROR_DOMAIN
    if ours and info is not None:
        detail = public_message(info.reason, error.details() or _phrase(status))
        if info.reason == INTERNAL_TOKEN_REFUSED:
            status = 500  # our own configuration, not the client's credentials
    else:
        detail = _GENERIC_DETAIL.get(code, "the request could not be completed")
    reason = info.reason if ours and info is not None else code.name
    errors: list[dict[str, str]] = []
    bad_request = rpc_status.detail_of(rich, error_details_pb2.BadRequest)
    if bad_request is not None:
        errors = [
            {"field": field_name(v.field), "detail": v.description} for v in bad_request.field_violations
        ]
    quota = rpc_status.detail_of(rich, error_details_pb2.QuotaFailure)
    if quota is not None:
        errors = [{"field": v.subject, "detail": v.description} for v in quota.violations]
    retry_after = _DEFAULT_RETRY_AFTER.get(code)
    retry = rpc_status.detail_of(rich, error_details_pb2.RetryInfo)
    if retry is not None:
        delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        retry_after = max(1, math.ceil(delay))
    extra: dict[str, Any] = {}
    if ours and info is not None and "job_id" in info.metadata:
        extra["job_id"] = info.metadata["job_id"]
    return Problem(status, detail, reason=reason, errors=errors, retry_after=retry_after, extra=extra)

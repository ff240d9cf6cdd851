"""The one place that turns `ServiceError`s into gRPC status with rich details, and back.

Every error carries ErrorInfo (domain "videojobs", a machine reason, metadata); InvalidArgument adds
BadRequest field violations; QuotaExceeded adds QuotaFailure; a retry delay adds RetryInfo.
"""

from __future__ import annotations

import math
from typing import TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from videojobs import errors

ERROR_DOMAIN = "videojobs"

_Detail = TypeVar("_Detail", bound=Message)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))


def to_status(error: errors.ServiceError) -> grpc.Status:
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    ]
    if isinstance(error, errors.InvalidArgument):
        bad = error_details_pb2.BadRequest
        fields = [bad.FieldViolation(field=v.field, description=v.description) for v in error.violations]
        details.append(bad(field_violations=fields))
    if isinstance(error, errors.QuotaExceeded):
        quota = error_details_pb2.QuotaFailure
        subjects = [quota.Violation(subject=v.subject, description=v.description) for v in error.violations]
        details.append(quota(violations=subjects))
    if error.retry_after is not None:
        details.append(error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after)))
    status = status_pb2.Status(
        code=getattr(code_pb2, error.code), message=error.message, details=[_pack(d) for d in details]
    )
    return rpc_status.to_status(status)


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The rich status a peer sent, if any (AioRpcError answers the sync Call methods from_call uses)."""
    return rpc_status.from_call(cast(grpc.Call, error))


def detail_of(status: status_pb2.Status | None, kind: type[_Detail]) -> _Detail | None:
    """The first detail of the given message type in a rich status."""
    if status is None:
        return None
    for detail in status.details:
        candidate = kind()
        if detail.Is(candidate.DESCRIPTOR):
            detail.Unpack(candidate)
            return candidate
    return None

"""The errors services raise. Domain code raises these; `videojobs.rpc_status` turns them into gRPC status.

    ServiceError                 every error carries a gRPC code name, a machine reason and metadata
    ├── InvalidArgument          field violations (BadRequest)
    ├── NotFound
    ├── AlreadyExists
    ├── FailedPrecondition
    ├── Unauthenticated
    ├── PermissionDenied
    ├── QuotaExceeded            quota violations (QuotaFailure) + retry delay (RetryInfo)
    ├── Unavailable              transient; optional retry delay (RetryInfo)
    ├── DeadlineExceeded
    ├── Unimplemented
    └── Internal

This module does not import grpc, so domain code can raise these without depending on the transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    subject: str
    description: str


class ServiceError(Exception):
    code: ClassVar[str] = "UNKNOWN"
    default_reason: ClassVar[str] = "UNKNOWN"

    def __init_subclass__(cls, *, code: str, reason: str | None = None, **kwargs: Any) -> None:
        """Each subclass names its gRPC code; its default reason is the code unless it says otherwise."""
        super().__init_subclass__(**kwargs)
        cls.code = code
        cls.default_reason = reason or code

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after


class InvalidArgument(ServiceError, code="INVALID_ARGUMENT"):
    def __init__(
        self,
        violations: Sequence[FieldViolation],
        *,
        message: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid request: {summary}", reason=reason)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(ServiceError, code="NOT_FOUND"): ...


class AlreadyExists(ServiceError, code="ALREADY_EXISTS"): ...


class FailedPrecondition(ServiceError, code="FAILED_PRECONDITION"): ...


class Unauthenticated(ServiceError, code="UNAUTHENTICATED"): ...


class PermissionDenied(ServiceError, code="PERMISSION_DENIED"): ...


class QuotaExceeded(ServiceError, code="RESOURCE_EXHAUSTED", reason="QUOTA_EXCEEDED"):
    def __init__(
        self,
        message: str,
        *,
        violations: Sequence[QuotaViolation],
        retry_after: float,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata, retry_after=retry_after)
        self.violations = tuple(violations)


class Unavailable(ServiceError, code="UNAVAILABLE"): ...


class DeadlineExceeded(ServiceError, code="DEADLINE_EXCEEDED"): ...


class Unimplemented(ServiceError, code="UNIMPLEMENTED"): ...


class Internal(ServiceError, code="INTERNAL"): ...

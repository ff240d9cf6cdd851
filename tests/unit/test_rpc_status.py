"""Domain errors become rich gRPC status: ErrorInfo always, plus the detail each kind promises."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from videojobs import errors, rpc_status


def _details(error: errors.ServiceError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    status = rpc_status.to_status(error)
    (value,) = [value for key, value in status.trailing_metadata if key == "grpc-status-details-bin"]
    return status.code, status_pb2.Status.FromString(value)


def test_every_error_carries_error_info() -> None:
    for error in [
        errors.NotFound("gone", reason="JOB_NOT_FOUND", metadata={"job_id": "1"}),
        errors.Unauthenticated("who?"),
        errors.Internal("oops"),
    ]:
        code, status = _details(error)
        assert code.name == error.code
        info = rpc_status.detail_of(status, error_details_pb2.ErrorInfo)
        assert info is not None
        assert info.domain == "videojobs"
        assert info.reason == error.reason
        assert dict(info.metadata) == error.metadata


def test_invalid_argument_lists_field_violations() -> None:
    _, status = _details(
        errors.InvalidArgument([errors.FieldViolation("a", "bad"), errors.FieldViolation("b.c", "worse")])
    )
    bad = rpc_status.detail_of(status, error_details_pb2.BadRequest)
    assert bad is not None
    assert [(v.field, v.description) for v in bad.field_violations] == [("a", "bad"), ("b.c", "worse")]
    assert "a: bad; b.c: worse" in status.message


def test_quota_errors_carry_quota_failure_and_retry_info() -> None:
    code, status = _details(
        errors.QuotaExceeded("over", violations=[errors.QuotaViolation("user:u", "daily")], retry_after=90.5)
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    quota = rpc_status.detail_of(status, error_details_pb2.QuotaFailure)
    retry = rpc_status.detail_of(status, error_details_pb2.RetryInfo)
    assert quota is not None
    assert retry is not None
    assert quota.violations[0].subject == "user:u"
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (90, 500_000_000)


def test_retry_info_only_when_there_is_a_delay() -> None:
    _, status = _details(errors.Unavailable("down"))
    assert rpc_status.detail_of(status, error_details_pb2.RetryInfo) is None

"""The per-call scope restores the caller context, and tolerates being closed from another context."""

from __future__ import annotations

import contextvars
from typing import Any, cast

import grpc
import pytest

from videojobs import context, errors, identity
from videojobs.interceptors import _CallScope


class _Context:
    """The one method of a servicer context the scope uses."""

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = metadata


def _context() -> grpc.aio.ServicerContext[Any, Any]:
    return cast("grpc.aio.ServicerContext[Any, Any]", _Context())


def test_enter_sets_and_leave_restores_the_caller() -> None:
    scope = _CallScope("/videojobs.v1.JobService/GetJob", {"x-user-id": "alice", "x-request-id": "r1"}, b"")
    tokens = scope.enter(_context())
    assert context.current_caller().user_id == "alice"
    assert context.request_id.get() == "r1"
    scope.leave(tokens)
    assert context.request_id.get() == ""


def test_leave_from_another_context_does_not_raise() -> None:
    """What happens when a client abandons a stream: the generator is closed from another task."""
    scope = _CallScope("/videojobs.v1.JobService/WatchJob", {"x-user-id": "alice"}, b"")
    tokens = contextvars.copy_context().run(scope.enter, _context())
    scope.leave(tokens)  # would raise "Token was created in a different Context" without the guard


def test_the_binary_user_header_carries_any_printable_id() -> None:
    user = "https://idp.example.com/users/42 ålice☃"
    scope = _CallScope("/videojobs.v1.JobService/GetJob", dict([identity.metadata(user)]), b"Bearer t")
    tokens = scope.enter(_context())
    assert context.current_caller().user_id == user
    scope.leave(tokens)


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe", b"bell\x07", b"", b"x" * 201],
    ids=["latin", "ctl", "empty", "long"],
)
def test_an_unusable_binary_user_id_is_refused_after_the_token(value: bytes) -> None:
    scope = _CallScope(
        "/videojobs.v1.JobService/GetJob",
        {identity.USER_ID_BIN_HEADER: value, "authorization": "Bearer t"},
        b"Bearer t",
    )
    tokens = scope.enter(_context())
    if value:
        with pytest.raises(errors.Unauthenticated) as refused:
            scope.authenticate()
        assert refused.value.reason == "USER_ID_INVALID"
    else:
        scope.authenticate()  # an empty id is no id: methods that need one say USER_REQUIRED
    with pytest.raises(errors.Unauthenticated):
        context.current_caller()
    scope.leave(tokens)

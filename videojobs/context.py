"""Who is calling and on which request: set once per RPC by the interceptor, read anywhere below it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from videojobs.errors import PermissionDenied, Unauthenticated

ADMIN_ROLE = "admin"
USER_ROLE = "user"


@dataclass(frozen=True)
class Caller:
    """The end user a call acts for, as vouched for by the internal caller (the gateway)."""

    user_id: str
    role: str = USER_ROLE

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def set_caller(caller: Caller | None) -> contextvars.Token[Caller | None]:
    return _caller.set(caller)


def reset_caller(token: contextvars.Token[Caller | None]) -> None:
    _caller.reset(token)


def current_caller() -> Caller:
    """The calling user; UNAUTHENTICATED when the call carries no `x-user-id`."""
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated(
            "this method acts for a user: x-user-id metadata is required", reason="USER_REQUIRED"
        )
    return caller


def current_admin() -> Caller:
    caller = current_caller()
    if not caller.is_admin:
        raise PermissionDenied("this method requires x-user-role: admin", reason="ADMIN_REQUIRED")
    return caller

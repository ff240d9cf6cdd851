"""The Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-header).

The draft makes it a Structured Field string (`Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`);
many clients send the bare value, so both are accepted. The key is passed to CreateJob as
`client_request_id`, so every create route shares one idempotency space per user.
"""

from __future__ import annotations

from gateway.problems import Problem

IDEMPOTENCY_KEY = "Idempotency-Key"


def parse_idempotency_key(header: str | None) -> str | None:
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        if '"' in value or "\\" in value:
            raise _bad("a quoted Idempotency-Key must not contain quotes or backslashes")
    if not value:
        raise _bad("Idempotency-Key must not be empty")
    return value


def choose_key(header: str | None, body_value: str | None) -> str:
    """The header wins over the body's client_request_id; empty means no key (every call is new)."""
    return parse_idempotency_key(header) or body_value or ""


def _bad(detail: str) -> Problem:
    return Problem(
        400, detail, reason="BAD_IDEMPOTENCY_KEY", errors=[{"field": IDEMPOTENCY_KEY, "detail": detail}]
    )

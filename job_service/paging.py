"""AIP-158 page tokens: opaque to clients, bound to the query they came from."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Collection
from datetime import datetime

from job_service.domain import Cursor, JobState
from videojobs.contract import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from videojobs.errors import InvalidArgument


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _fingerprint(states: Collection[JobState], scope: str) -> str:
    """Identifies the filter, so a token cannot be replayed against a different query (AIP-158). `scope`
    is the rest of the filter (admin listings), empty for a user's own listing."""
    text = ",".join(sorted(states)) + (f"|{scope}" if scope else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(cursor: Cursor, states: Collection[JobState], scope: str = "") -> str:
    payload = {"t": cursor.create_time.isoformat(), "i": str(cursor.id), "f": _fingerprint(states, scope)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str, states: Collection[JobState], scope: str = "") -> Cursor | None:
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor = Cursor(create_time=datetime.fromisoformat(payload["t"]), id=uuid.UUID(payload["i"]))
        fingerprint = payload["f"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidArgument.field("page_token", "is not a token this service issued") from error
    if cursor.create_time.tzinfo is None:
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    if fingerprint != _fingerprint(states, scope):
        raise InvalidArgument.field("page_token", "was issued for a different filter; start again without it")
    return cursor

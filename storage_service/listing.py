"""ListObjects: the bucket's objects under a prefix, one page at a time.

Page tokens are GCS's own, wrapped with the prefix they belong to, so a token reused with another prefix
is refused instead of silently listing the wrong objects (as AIP-158 asks of page tokens).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from storage_service.domain import ObjectRef
from storage_service.gcs import Gcs
from videojobs.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_MAX_PREFIX_BYTES = 1024


@dataclass(frozen=True)
class ListedObject:
    ref: ObjectRef
    size_bytes: int
    content_type: str
    update_time: datetime | None


@dataclass(frozen=True)
class ObjectPage:
    objects: tuple[ListedObject, ...]
    next_page_token: str


@dataclass(frozen=True)
class PageRequest:
    prefix: str
    page_size: int
    gcs_token: str | None


def _prefix_problem(prefix: str) -> str | None:
    if len(prefix.encode()) > _MAX_PREFIX_BYTES:
        return f"must be at most {_MAX_PREFIX_BYTES} bytes"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in prefix):
        return "must not contain control characters"
    if prefix.startswith("/") or "\\" in prefix or "://" in prefix:
        return "must be an object-name prefix with '/' separators, not a path or URL"
    # The last segment may be partial or empty ("videos/" or "videos/al"); the ones before are whole.
    if any(part in {"", ".", ".."} for part in prefix.split("/")[:-1]) or prefix.split("/")[-1] in {
        ".",
        "..",
    }:
        return "must not contain empty, '.' or '..' path segments"
    return None


def encode_token(prefix: str, gcs_token: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": prefix, "t": gcs_token}).encode()).decode()


def _decode_token(token: str, prefix: str) -> str:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        owner, gcs_token = decoded["p"], decoded["t"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidArgument.field("page_token", "is not a token this service issued") from error
    if not isinstance(gcs_token, str) or owner != prefix:
        raise InvalidArgument.field("page_token", "belongs to another prefix; start again without a token")
    return gcs_token


def parse_request(prefix: str, page_size: int, page_token: str) -> PageRequest:
    """Every problem at once, each naming its field."""
    violations = []
    problem = _prefix_problem(prefix)
    if problem:
        violations.append(FieldViolation("prefix", problem))
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"must be between 0 (default) and {MAX_PAGE_SIZE}"))
    if violations:
        raise InvalidArgument(violations)
    gcs_token = _decode_token(page_token, prefix) if page_token else None
    return PageRequest(prefix, page_size or DEFAULT_PAGE_SIZE, gcs_token)


def list_sync(gcs: Gcs, bucket: str, request: PageRequest) -> ObjectPage:
    """Blocking; run through `Gcs.run`. One request to GCS for one page."""
    iterator = gcs.client.list_blobs(
        bucket,
        prefix=request.prefix or None,
        page_size=request.page_size,
        page_token=request.gcs_token,
        timeout=gcs.timeout,
        retry=gcs.retry,
    )
    page = next(iterator.pages, None)
    blobs = list(page) if page is not None else []
    objects = tuple(
        ListedObject(
            ref=ObjectRef(bucket, blob.name),
            size_bytes=int(blob.size or 0),
            content_type=blob.content_type or "",
            update_time=blob.updated,
        )
        for blob in blobs
    )
    next_token = iterator.next_page_token
    return ObjectPage(objects, encode_token(request.prefix, next_token) if next_token else "")

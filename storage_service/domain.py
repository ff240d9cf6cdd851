"""What the service talks about: object references (gs:// URIs, keys), stored objects, video facts.

Parsing here is also validation: every URI or key a caller sends goes through `parse_uri`/`parse_key`,
which refuse other buckets, traversal segments and control characters with a field violation.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from videojobs.errors import FieldViolation, InvalidArgument
from videojobs.video_info import VideoInfo as VideoInfo  # re-exported for storage_service

# Bucket names: lowercase letters, digits, dashes, underscores, dots (GCS naming rules, simplified).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_MAX_NAME_BYTES = 1024


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


@dataclass(frozen=True)
class StoredObject:
    ref: ObjectRef
    size_bytes: int
    content_type: str
    crc32c: str
    generation: int
    reused: bool = False
    other_candidates: tuple[str, ...] = field(default=())


def name_problem(name: str) -> str | None:
    """Why `name` is not an acceptable object name, or None."""
    if not name:
        return "must not be empty"
    if len(name.encode()) > _MAX_NAME_BYTES:
        return f"must be at most {_MAX_NAME_BYTES} bytes"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "must not contain control characters"
    if name.startswith("/") or "\\" in name:
        return "must be a relative key with '/' separators"
    if any(part in {"", ".", ".."} for part in name.split("/")):
        return "must not contain empty, '.' or '..' path segments"
    return None


def parse_key(key: str, bucket: str, *, field_name: str) -> ObjectRef:
    """A destination key in the service's own bucket (also accepts the gs:// URI of one)."""
    if key.startswith("gs://"):
        return parse_uri(key, {bucket}, field_name=field_name)
    if "://" in key:
        raise InvalidArgument.field(field_name, "must be an object key in the bucket, not a URL")
    problem = name_problem(key)
    if problem:
        raise InvalidArgument.field(field_name, problem)
    return ObjectRef(bucket, key)


def parse_uri(uri: str, buckets: Collection[str], *, field_name: str) -> ObjectRef:
    """A gs://bucket/name URI in one of `buckets`."""
    violation = uri_problem(uri, buckets)
    if violation:
        raise InvalidArgument.field(field_name, violation)
    return _split(uri)


def _split(uri: str) -> ObjectRef:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return ObjectRef(bucket, name)


def uri_problem(uri: str, buckets: Collection[str]) -> str | None:
    if not uri.startswith("gs://"):
        return "must be a gs:// URI"
    bucket, slash, name = uri.removeprefix("gs://").partition("/")
    if not _BUCKET.match(bucket) or not slash:
        return "must look like gs://bucket/object"
    if bucket not in buckets:
        return f"bucket {bucket!r} is not one this service may use"
    return name_problem(name)


def parse_uris(uris: Collection[str], buckets: Collection[str], *, field_name: str) -> list[ObjectRef]:
    """All of `uris`, or one InvalidArgument listing every bad one (field `name[i]`)."""
    violations = []
    refs = []
    for index, uri in enumerate(uris):
        problem = uri_problem(uri, buckets)
        if problem:
            violations.append(FieldViolation(f"{field_name}[{index}]", problem))
        else:
            refs.append(_split(uri))
    if violations:
        raise InvalidArgument(violations)
    return refs

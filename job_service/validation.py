"""Input rules from the API contract. Every violation is reported at once, naming its field."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from job_service.domain import VideoSpec
from videojobs.contract import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    MAX_DURATION_SECONDS,
    MAX_PROMPT_CHARS,
    PROVIDERS,
)
from videojobs.errors import FieldViolation, InvalidArgument

MAX_URI_CHARS = 2048
MAX_CLIENT_REQUEST_ID_CHARS = 200
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,199}$")
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: safe in headers, logs and URLs


def normalize_spec(
    spec: VideoSpec,
    default_providers: Sequence[str],
    *,
    image_buckets: Collection[str] = (),
    field_prefix: str = "spec",
) -> VideoSpec:
    """The spec with defaults filled in, or InvalidArgument listing every problem. A gs:// image must be in
    one of `image_buckets`: providers read it with our credentials, so any other bucket they can read (ours,
    with every user's videos, included) must not be named by a user."""
    violations: list[FieldViolation] = []

    def bad(name: str, description: str) -> None:
        violations.append(FieldViolation(f"{field_prefix}.{name}", description))

    # Postgres text and jsonb cannot hold U+0000; refused here rather than failing at the insert.
    for name in ("prompt", "image_uri", "aspect_ratio", "model"):
        if "\x00" in getattr(spec, name):
            bad(name, "must not contain NUL characters")
    if len(spec.prompt) > MAX_PROMPT_CHARS:
        bad("prompt", f"must be at most {MAX_PROMPT_CHARS} characters (got {len(spec.prompt)})")
    if not spec.prompt.strip() and not spec.image_uri:
        bad("prompt", "is required unless image_uri is set")
    if spec.image_uri:
        problem = _image_uri_problem(spec.image_uri, image_buckets)
        if problem:
            bad("image_uri", problem)
    if not 0 <= spec.duration_seconds <= MAX_DURATION_SECONDS:
        bad(
            "duration_seconds", f"must be between 1 and {MAX_DURATION_SECONDS}, or 0 for the provider default"
        )
    if spec.aspect_ratio and spec.aspect_ratio not in ASPECT_RATIOS:
        bad("aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")
    if spec.model and not _well_formed_model(spec.model):
        bad(
            "model",
            "must be a model id of letters, digits and ._:- in '/'-separated parts, none empty, '.' or '..' "
            "(at most 200 characters)",
        )
    for index, provider in enumerate(spec.providers):
        if provider not in PROVIDERS:
            bad(
                f"providers[{index}]",
                f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}",
            )
    if len(set(spec.providers)) != len(spec.providers):
        bad("providers", "must not name a provider twice")
    if violations:
        raise InvalidArgument(violations)
    return VideoSpec(
        prompt=spec.prompt,
        image_uri=spec.image_uri,
        duration_seconds=spec.duration_seconds,
        aspect_ratio=spec.aspect_ratio or DEFAULT_ASPECT_RATIO,
        model=spec.model,
        providers=tuple(spec.providers) or tuple(default_providers),
    )


def _well_formed_model(model: str) -> bool:
    """A provider's model id (`veo-3.1-generate-001`, `fal-ai/kling-video/v2.1/master/text-to-video`): it
    becomes part of a URL path at the provider, so no empty, `.` or `..` segments."""
    return bool(_MODEL_RE.match(model)) and not any(part in {"", ".", ".."} for part in model.split("/"))


def _image_uri_problem(uri: str, image_buckets: Collection[str]) -> str | None:
    if len(uri) > MAX_URI_CHARS:
        return f"must be at most {MAX_URI_CHARS} characters"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in uri):
        return "must not contain control characters"
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "gs"}:
        return "must be an https:// or gs:// URI"
    if not parts.netloc:
        return "must name a host (https) or a bucket (gs)"
    if parts.scheme == "gs":
        if parts.netloc not in image_buckets:
            return "gs:// images must come from a bucket this service accepts images from"
        if any(part in {"", ".", ".."} for part in parts.path.removeprefix("/").split("/")):
            return "must name an object (no empty, '.' or '..' path segments)"
    return None


def check_client_request_id(value: str) -> str | None:
    """The key as stored (None when the client sent none), or InvalidArgument."""
    if not value:
        return None
    if len(value) > MAX_CLIENT_REQUEST_ID_CHARS or not _KEY_RE.match(value):
        raise InvalidArgument.field(
            "client_request_id",
            f"must be 1..{MAX_CLIENT_REQUEST_ID_CHARS} visible ASCII characters (a UUID is a good choice)",
        )
    return value

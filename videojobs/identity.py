"""User ids: which ones are accepted, how they travel in gRPC metadata, and how they name objects.

A user id is whatever the identity provider put in a JWT's `sub`, or what an operator gave `keys create`:
`https://idp.example.com/users/42`, `tenant//user` and `josé` are all real ids. So:

- on the wire it travels as UTF-8 in the binary header `x-user-id-bin` (gRPC metadata values are ASCII
  unless the key ends in `-bin`); a plain `x-user-id` is still read, for grpcurl and older callers;
- in object keys it appears only as `key_segment(user_id)`: a hash prefix (unique) plus a slug (readable),
  which never contains `/`, `.`, `..` or anything but `[a-z0-9-]`;
- ids that cannot be carried faithfully (empty, too long, control characters, lone surrogates) are refused
  where they enter: key creation and JWT verification.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

USER_ID_HEADER = "x-user-id"
USER_ID_BIN_HEADER = "x-user-id-bin"
MAX_USER_ID_CHARS = 200

_HASH_CHARS = 16  # 64 bits of SHA-256: no two ids of one deployment share a folder by accident
_SLUG_CHARS = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def user_id_problem(user_id: str) -> str | None:
    """Why `user_id` cannot be a user id, or None. Any printable text of up to 200 characters is fine."""
    if not user_id:
        return "must not be empty"
    if len(user_id) > MAX_USER_ID_CHARS:
        return f"must be at most {MAX_USER_ID_CHARS} characters"
    if user_id != user_id.strip():
        return "must not start or end with whitespace"
    for char in user_id:
        category = unicodedata.category(char)
        if category == "Cc":
            return "must not contain control characters"
        if category == "Cs":
            return "must be valid Unicode text"
    return None


def key_segment(user_id: str) -> str:
    """The one path segment that stands for `user_id` in object keys (`videos/{segment}/{job}.mp4`).

    Every place that builds or reads such a key must use this, so that the orphan sweep recognises the
    videos the orchestrator stored."""
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    ascii_id = unicodedata.normalize("NFKD", user_id).encode("ascii", "ignore").decode().lower()
    slug = _NOT_SLUG.sub("-", ascii_id).strip("-")[:_SLUG_CHARS].strip("-")
    return f"{digest}-{slug}" if slug else digest


def metadata(user_id: str) -> tuple[str, bytes]:
    """The metadata entry that carries `user_id` to another service."""
    return (USER_ID_BIN_HEADER, user_id.encode())


def from_metadata(metadata: dict[str, str | bytes]) -> str:
    """The user id a call carries ('' when none): `x-user-id-bin` (UTF-8), else the ASCII `x-user-id`.

    Raises ValueError when the binary header is not UTF-8."""
    raw = metadata.get(USER_ID_BIN_HEADER)
    if raw is not None:
        return raw.decode() if isinstance(raw, bytes) else raw
    plain = metadata.get(USER_ID_HEADER)
    if plain is None:
        return ""
    return plain.decode() if isinstance(plain, bytes) else plain

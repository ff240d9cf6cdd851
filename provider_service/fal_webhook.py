"""fal webhook signatures: Ed25519 over request id, user id, timestamp and the body's SHA-256.

    message = request_id + "\\n" + user_id + "\\n" + timestamp + "\\n" + sha256_hex(raw body)

valid when any Ed25519 key of fal's JWKS (read by PyJWT's `PyJWKSet`) verifies the hex signature and the
timestamp is within the tolerance of now. The keys come from settings (JSON) or a cached copy of the JWKS in a
file, re-read when the file changes, so verifying never needs the network.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt import PyJWKSet, PyJWKSetError
from jwt.algorithms import OKPAlgorithm

from videojobs import errors

REQUEST_ID = "x-fal-webhook-request-id"
USER_ID = "x-fal-webhook-user-id"
TIMESTAMP = "x-fal-webhook-timestamp"
SIGNATURE = "x-fal-webhook-signature"


def parse_jwks(text: str) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys of a JWKS document; other key types and unreadable keys are skipped."""
    document: Any = json.loads(text)
    if not isinstance(document, dict):
        return []
    try:
        key_set = PyJWKSet.from_dict(document)
    except PyJWKSetError:  # no keys, or none usable
        return []
    return [jwk.key for jwk in key_set if isinstance(jwk.key, Ed25519PublicKey)]


def jwks_for(public_keys: list[Ed25519PublicKey]) -> str:
    """A JWKS document for these keys (what fal publishes; tests and the fakes use it)."""
    return json.dumps({"keys": [OKPAlgorithm.to_jwk(key, as_dict=True) for key in public_keys]})


def message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    return "\n".join((request_id, user_id, timestamp, hashlib.sha256(body).hexdigest())).encode()


class KeySet:
    """fal's public keys from inline JSON and/or a cached JWKS file (re-read when its mtime changes)."""

    def __init__(self, inline: str | None = None, path: Path | None = None) -> None:
        self._inline = parse_jwks(inline) if inline else []
        self._path = path
        self._file_keys: list[Ed25519PublicKey] = []
        self._mtime: float | None = None

    def keys(self) -> list[Ed25519PublicKey]:
        if self._path is not None:
            try:
                mtime = self._path.stat().st_mtime
            except OSError:
                mtime = None
            if mtime != self._mtime:
                self._file_keys = parse_jwks(self._path.read_text()) if mtime is not None else []
                self._mtime = mtime
        return [*self._inline, *self._file_keys]


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: list[Ed25519PublicKey],
    *,
    tolerance: float,
    now: float | None = None,
) -> str:
    """Check the signature; returns the signed request id. Any doubt is UNAUTHENTICATED."""
    if not keys:
        raise errors.FailedPrecondition(
            "fal webhook keys are not configured (VIDEOJOBS_FAL_WEBHOOK_JWKS or _JWKS_FILE)",
            reason="PROVIDER_NOT_CONFIGURED",
        )
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in (REQUEST_ID, USER_ID, TIMESTAMP, SIGNATURE) if not lowered.get(name)]
    if missing:
        raise _refused(f"missing {', '.join(missing)}")
    timestamp = lowered[TIMESTAMP]
    try:
        sent = int(timestamp)
        signature = binascii.unhexlify(lowered[SIGNATURE])
    except (ValueError, binascii.Error) as exc:
        raise _refused("unreadable timestamp or signature") from exc
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        raise _refused("timestamp outside the accepted window")
    signed = message(lowered[REQUEST_ID], lowered[USER_ID], timestamp, body)
    for key in keys:
        try:
            key.verify(signature, signed)
        except InvalidSignature:
            continue
        return lowered[REQUEST_ID]
    raise _refused("signature does not verify")


def _refused(why: str) -> errors.Unauthenticated:
    return errors.Unauthenticated(f"fal webhook refused: {why}", reason="WEBHOOK_SIGNATURE_INVALID")

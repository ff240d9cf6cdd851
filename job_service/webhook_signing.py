"""Webhook secrets: made (`whsec_` + base64 of 24 random bytes, as Standard Webhooks writes them), kept
encrypted at rest (Fernet, keys from VIDEOJOBS_WEBHOOK_SECRET_KEYS), and used to sign a delivery:
`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, one signature per
live secret, separated by spaces. Secrets never reach a log: only this module and the caller who creates or
rotates an endpoint (once) see them in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SECRET_BYTES = 24

# A fixed, public key for development only (like the dev internal token); production refuses it.
DEV_SECRET_KEY = "ZGV2LXdlYmhvb2stc2VjcmV0LWtleS0wMDAwMDAwMDA="  # noqa: S105 - a public development default


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(secrets_: Iterable[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(secret, webhook_id, timestamp, body) for secret in secrets_)


class SecretBox:
    """Encrypts secrets with the first key and decrypts with any of them, so keys rotate without downtime:
    put the new key first, and drop the old one once every endpoint was re-encrypted or rotated."""

    def __init__(self, keys: Iterable[str]) -> None:
        fernets = [Fernet(key.strip().encode()) for key in keys if key.strip()]
        if not fernets:
            raise ValueError("at least one webhook secret key is needed")
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        return cls(value.split(","))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            # Never the token or the secret: only that the keys in the settings do not open it.
            raise ValueError("a webhook secret does not decrypt with the configured keys") from None

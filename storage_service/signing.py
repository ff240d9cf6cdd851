"""SignUrls: V4 signed GET URLs, or plain emulator URLs when nothing can sign against the emulator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import google.auth.transport.requests
from google.auth import credentials as gcreds

from storage_service.domain import ObjectRef
from storage_service.gcs import Gcs
from storage_service.settings import MAX_SIGNED_URL_TTL_SECONDS
from videojobs import errors

GCS_ENDPOINT = "https://storage.googleapis.com"


def check_ttl(ttl_seconds: int, default: int) -> int:
    ttl = ttl_seconds or default
    if not 1 <= ttl <= MAX_SIGNED_URL_TTL_SECONDS:
        raise errors.InvalidArgument.field(
            "ttl_seconds", f"must be between 1 and {MAX_SIGNED_URL_TTL_SECONDS} (7 days)"
        )
    return ttl


def emulator_download_url(emulator: str, ref: ObjectRef) -> str:
    return f"{emulator}/download/storage/v1/b/{ref.bucket}/o/{quote(ref.name, safe='')}?alt=media"


def sign_sync(gcs: Gcs, refs: Sequence[ObjectRef], ttl_seconds: int) -> tuple[list[str], datetime]:
    """Blocking (signing may call IAM); run through `Gcs.run`. Returns the URLs and when they expire."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
    emulator = gcs.settings.emulator_link_url
    signer = gcs.signer
    if _can_sign(signer):
        how = {"credentials": signer, "api_access_endpoint": emulator or GCS_ENDPOINT}
        return [_v4(gcs, ref, ttl_seconds, how) for ref in refs], expires
    if emulator is not None:
        return [emulator_download_url(emulator, ref) for ref in refs], expires
    if signer is not None and getattr(signer, "service_account_email", None):
        # Credentials without a private key (e.g. on Cloud Run, GKE): sign through IAM signBlob with a token.
        # Refresh first: metadata-server credentials name their account "default" until they are refreshed.
        if not signer.valid:
            signer.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
        email = getattr(signer, "service_account_email", None)
        how = {"service_account_email": email, "access_token": signer.token}
        return [_v4(gcs, ref, ttl_seconds, how) for ref in refs], expires
    raise errors.FailedPrecondition(
        "the configured credentials cannot sign URLs; "
        "set VIDEOJOBS_CREDENTIALS_FILE to a service-account key",
        reason="CANNOT_SIGN",
    )


def _can_sign(credentials: object) -> bool:
    """Credentials holding a private key (service-account keys) sign locally."""
    return isinstance(credentials, gcreds.Signing)


def _v4(gcs: Gcs, ref: ObjectRef, ttl_seconds: int, how: dict[str, Any]) -> str:
    """A V4 signed GET URL; `how` says who signs (a local key, or IAM for a service-account email)."""
    url: str = gcs.blob(ref).generate_signed_url(
        version="v4", expiration=timedelta(seconds=ttl_seconds), method="GET", **how
    )
    return url

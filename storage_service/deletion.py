"""DeleteObjects: idempotent; an object already gone is reported as missing, not as an error."""

from __future__ import annotations

from collections.abc import Sequence

from google.api_core import exceptions as gexc

from storage_service.domain import ObjectRef
from storage_service.gcs import Gcs


def delete_sync(gcs: Gcs, refs: Sequence[ObjectRef]) -> tuple[list[str], list[str]]:
    """Blocking; run through `Gcs.run`. Returns (deleted, missing) URIs."""
    deleted: list[str] = []
    missing: list[str] = []
    for ref in dict.fromkeys(refs):
        try:
            gcs.blob(ref).delete(timeout=gcs.timeout, retry=gcs.retry)
        except gexc.NotFound:
            missing.append(ref.uri)
        else:
            deleted.append(ref.uri)
    return deleted, missing

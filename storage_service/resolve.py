"""ResolveOutput: find the one real video a Veo job produced.

Veo writes `{prefix}/{server-made subdir}/sample_0.mp4` (and, with several samples, sample_1, ...); the
seed app also met `{prefix}/{operation}.mp4`. Order of search: the URIs Veo returned that exist; else
`sample_N.mp4` at any depth under the job's own prefix (lowest N wins); else the .mp4 files under the
prefix (oldest wins). Whatever else was found is reported in `other_candidates`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.cloud import storage

from storage_service.domain import ObjectRef, StoredObject, parse_uri, parse_uris
from storage_service.gcs import Gcs, stored
from videojobs import errors
from videojobs.contract import Reason

_SAMPLE = re.compile(r"(?:^|/)sample_(\d+)\.mp4$")
# A job's prefix holds a handful of objects; this bounds a listing gone wrong (e.g. a prefix of "/").
MAX_LISTED = 1000


def sample_index(name: str) -> int | None:
    match = _SAMPLE.search(name)
    return int(match.group(1)) if match else None


def _by_sample(blobs: Sequence[storage.Blob]) -> list[storage.Blob]:
    """Lowest sample index first (non-samples last), then shallower paths, then names."""

    def order(blob: storage.Blob) -> tuple[int, int, str]:
        index = sample_index(blob.name)
        return (1 << 30 if index is None else index, blob.name.count("/"), blob.name)

    return sorted(blobs, key=order)


def _pick(blobs: list[storage.Blob]) -> StoredObject:
    chosen, *others = blobs
    return stored(chosen, others=tuple(f"gs://{b.bucket.name}/{b.name}" for b in others))


def _prefix_ref(prefix: str, gcs: Gcs) -> ObjectRef:
    ref = parse_uri(prefix.rstrip("/") + "/x", gcs.settings.readable_buckets, field_name="prefix")
    # "incoming/job1" must never match "incoming/job10/...": search inside the folder only.
    return ObjectRef(ref.bucket, ref.name[: -len("x")])


def resolve_sync(gcs: Gcs, uris: Sequence[str], prefix: str) -> StoredObject:
    """Blocking; run through `Gcs.run`."""
    if not uris and not prefix:
        raise errors.InvalidArgument.field("uris", "give the URIs the provider returned, a prefix, or both")
    refs = parse_uris(uris, gcs.settings.readable_buckets, field_name="uris")
    folder = _prefix_ref(prefix, gcs) if prefix else None

    returned = [blob for blob in (gcs.get(ref) for ref in dict.fromkeys(refs)) if blob is not None]
    if returned:
        return _pick(_by_sample(returned))

    looked_at = [ref.uri for ref in refs]
    if folder is not None:
        listed = list(
            gcs.client.list_blobs(
                folder.bucket,
                prefix=folder.name,
                max_results=MAX_LISTED,
                timeout=gcs.timeout,
                retry=gcs.retry,
            )
        )
        videos = [b for b in listed if b.name.lower().endswith(".mp4")]
        samples = [b for b in videos if sample_index(b.name) is not None]
        if samples:
            return _pick(_by_sample(samples))
        if videos:
            return _pick(sorted(videos, key=lambda b: (b.time_created, b.name)))
        looked_at.append(f"{folder.uri}** ({len(listed)} objects, no .mp4)")
    raise errors.NotFound(
        "no provider output found; looked at: " + ", ".join(looked_at),
        reason=Reason.OUTPUT_NOT_FOUND,
        metadata={"looked_at": " ".join(looked_at)[:1000]},
    )

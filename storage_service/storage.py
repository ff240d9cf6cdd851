"""The StorageService use cases the servicer calls: each method validates its input, then runs the
blocking work (GCS client, PyAV) on the GCS thread pool. No grpc in here."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from storage_service import deletion, listing, media, resolve, signing
from storage_service.domain import StoredObject, VideoInfo, parse_key, parse_uri, parse_uris
from storage_service.gcs import Gcs, KeyedLocks, deadline
from storage_service.relocate import Relocator
from videojobs import errors
from videojobs.safe_fetch import SafeFetcher

MAX_URIS_PER_CALL = 1000
MIN_THUMBNAIL_WIDTH = 16
MAX_THUMBNAIL_WIDTH = 4096


def _check_count(uris: Sequence[str], field: str) -> None:
    if not uris:
        raise errors.InvalidArgument.field(field, "give at least one URI")
    if len(uris) > MAX_URIS_PER_CALL:
        raise errors.InvalidArgument.field(field, f"at most {MAX_URIS_PER_CALL} URIs per call")


class Storage:
    def __init__(self, gcs: Gcs, fetcher: SafeFetcher) -> None:
        self.gcs = gcs
        self.settings = gcs.settings
        self.relocator = Relocator(gcs, fetcher)
        self._thumbnail_locks = KeyedLocks()

    async def resolve_output(self, uris: Sequence[str], prefix: str) -> StoredObject:
        if len(uris) > MAX_URIS_PER_CALL:
            raise errors.InvalidArgument.field("uris", f"at most {MAX_URIS_PER_CALL} URIs per call")
        return await self.gcs.run(resolve.resolve_sync, self.gcs, list(uris), prefix)

    async def relocate(
        self, source_uri: str, destination_key: str, *, delete_source: bool, headers: Mapping[str, str]
    ) -> StoredObject:
        return await self.relocator.relocate(
            source_uri, destination_key, delete_source=delete_source, headers=headers
        )

    async def upload_video(self, data: bytes, destination_key: str, content_type: str) -> StoredObject:
        return await self.relocator.upload(data, destination_key, content_type)

    async def probe(self, uri: str) -> VideoInfo:
        ref = parse_uri(uri, self.settings.readable_buckets, field_name="uri")
        async with self._media_deadline("probing the video") as expires:
            return await self.gcs.run(media.probe_sync, self.gcs, ref, expires)

    async def thumbnail(
        self, video_uri: str, destination_key: str, at_seconds: float | None, max_width: int
    ) -> StoredObject:
        violations = []
        if at_seconds is not None and (not math.isfinite(at_seconds) or at_seconds < 0):
            violations.append(errors.FieldViolation("at_seconds", "must be a finite number of seconds >= 0"))
        if max_width and not MIN_THUMBNAIL_WIDTH <= max_width <= MAX_THUMBNAIL_WIDTH:
            violations.append(
                errors.FieldViolation(
                    "max_width", f"must be between {MIN_THUMBNAIL_WIDTH} and {MAX_THUMBNAIL_WIDTH} pixels"
                )
            )
        if violations:
            raise errors.InvalidArgument(violations)
        video = parse_uri(video_uri, self.settings.readable_buckets, field_name="video_uri")
        dest = parse_key(destination_key, self.settings.bucket, field_name="destination_key")
        width = max_width or self.settings.thumbnail_max_width
        lock = self._thumbnail_locks.hold(dest.uri)
        async with self._media_deadline("making the thumbnail") as expires, lock:
            return await self.gcs.run(media.thumbnail_sync, self.gcs, video, dest, at_seconds, width, expires)

    @asynccontextmanager
    async def _media_deadline(self, what: str) -> AsyncIterator[float]:
        """The caller gets DEADLINE_EXCEEDED when the time is up; the decoding thread, handed the same
        monotonic instant, stops at its next read or frame instead of running on."""
        seconds = self.settings.media_timeout_seconds
        async with deadline(seconds, what, reason=media.TIMEOUT_REASON):
            yield time.monotonic() + seconds

    async def delete(self, uris: Sequence[str]) -> tuple[list[str], list[str]]:
        _check_count(uris, "uris")
        refs = parse_uris(uris, self.settings.readable_buckets, field_name="uris")
        return await self.gcs.run(deletion.delete_sync, self.gcs, refs)

    async def sign(self, uris: Sequence[str], ttl_seconds: int) -> tuple[list[str], datetime]:
        _check_count(uris, "uris")
        ttl = signing.check_ttl(ttl_seconds, self.settings.signed_url_ttl_seconds)
        refs = parse_uris(uris, self.settings.readable_buckets, field_name="uris")
        return await self.gcs.run(signing.sign_sync, self.gcs, refs, ttl)

    async def list_objects(self, prefix: str, page_size: int, page_token: str) -> listing.ObjectPage:
        request = listing.parse_request(prefix, page_size, page_token)
        return await self.gcs.run(listing.list_sync, self.gcs, self.settings.bucket, request)

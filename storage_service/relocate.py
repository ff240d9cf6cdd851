"""Relocate (and UploadVideo): put a provider's output at its final key, exactly once.

gs:// sources are copied inside GCS (rewrite, looping on the rewrite token), so no bytes pass through
this service. https:// sources are streamed through a bounded pipe into a resumable upload: the chunk
being sent and at most one chunk downloaded ahead of it are held, whatever the size. A video the provider
returned inline arrives as bytes (at most INLINE_VIDEO_MAX_BYTES) and is written with one upload.
Every write carries if_generation_match=0: when the destination already exists, nothing is written and
the existing object is returned with reused=True.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import storage

from storage_service.domain import ObjectRef, StoredObject, parse_key, parse_uri
from storage_service.gcs import Gcs, KeyedLocks, deadline, stored, write_once
from storage_service.pipe import Pipe
from videojobs import errors, safe_fetch
from videojobs.contract import INLINE_VIDEO_MAX_BYTES, Reason
from videojobs.logs import get_logger

log = get_logger(__name__)

# A rewrite call copies up to ~1 GiB in one round on GCS; this bounds the loop far above any allowed size.
_MAX_REWRITE_ROUNDS = 1000
_OCTET_STREAM = {"application/octet-stream", "binary/octet-stream", ""}
_PIECE_BYTES = 256 * 1024
_SNIFF_BYTES = 16
SOURCE_FIELD = "source_uri"


@dataclass(frozen=True)
class HttpsSource:
    url: str
    headers: Mapping[str, str]


Source = ObjectRef | HttpsSource


def parse_source(uri: str, headers: Mapping[str, str], gcs: Gcs, *, allow_local: bool) -> Source:
    if uri.startswith("gs://"):
        return parse_uri(uri, gcs.settings.readable_buckets, field_name="source_uri")
    if "://" not in uri:
        raise errors.InvalidArgument.field("source_uri", "must be a gs:// or https:// URI")
    safe_fetch.check_url(uri, allow_local=allow_local, field=SOURCE_FIELD)
    violations = [
        errors.FieldViolation(f"source_headers[{name!r}]", "header names and values must be single-line text")
        for name, value in headers.items()
        if not name or any(c in name + value for c in "\r\n\0")
    ]
    if violations:
        raise errors.InvalidArgument(violations)
    return HttpsSource(uri, headers)


def video_content_type(declared: str, head: bytes) -> str | None:
    """The content type to store, or None when the source is not a video we accept."""
    main = declared.split(";")[0].strip().lower()
    if main.startswith("video/"):
        return main
    if main in _OCTET_STREAM:
        if head[4:8] == b"ftyp":  # ISO base media (MP4, MOV)
            return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
        if head[:4] == b"\x1a\x45\xdf\xa3":  # Matroska / WebM
            return "video/webm"
    return None


def not_a_video(what: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(f"the source is not a video ({what})", reason=Reason.NOT_A_VIDEO)


class Relocator:
    def __init__(self, gcs: Gcs, fetcher: safe_fetch.SafeFetcher) -> None:
        self.gcs = gcs
        self.fetcher = fetcher
        self.settings = gcs.settings
        self._locks = KeyedLocks()

    async def relocate(
        self, source_uri: str, destination_key: str, *, delete_source: bool, headers: Mapping[str, str]
    ) -> StoredObject:
        dest = parse_key(destination_key, self.settings.bucket, field_name="destination_key")
        source = parse_source(source_uri, headers, self.gcs, allow_local=self.settings.fetch_allow_local)
        if source == dest:
            raise errors.InvalidArgument.field("destination_key", "must differ from the source")
        async with self._locks.hold(dest.uri):
            existing = await self.gcs.run(self.gcs.get, dest)
            if existing is not None:
                result = stored(existing, reused=True)
            elif isinstance(source, ObjectRef):
                result = await self.gcs.run(self._copy, source, dest)
            else:
                result = await self._stream(source, dest)
        if delete_source and isinstance(source, ObjectRef):
            await self.gcs.run(self._delete_source, source, result)
        log.info("relocated", destination=dest.uri, reused=result.reused, size_bytes=result.size_bytes)
        return result

    async def upload(self, data: bytes, destination_key: str, content_type: str) -> StoredObject:
        """A video given as bytes (a provider's inline output), checked to look like one."""
        dest = parse_key(destination_key, self.settings.bucket, field_name="destination_key")
        if not data:
            raise errors.InvalidArgument.field("data", "is required")
        limit = min(INLINE_VIDEO_MAX_BYTES, self.settings.max_object_bytes)
        if len(data) > limit:
            raise errors.InvalidArgument.field("data", f"must be at most {limit} bytes")
        kind = video_content_type(content_type, data[:_SNIFF_BYTES])
        if kind is None:
            raise not_a_video(f"content type {content_type or '(none)'!r}")
        async with self._locks.hold(dest.uri):
            existing = await self.gcs.run(self.gcs.get, dest)
            result = (
                stored(existing, reused=True)
                if existing is not None
                else await self.gcs.run(write_once, self.gcs, dest, data, kind)
            )
        log.info("uploaded", destination=dest.uri, reused=result.reused, size_bytes=result.size_bytes)
        return result

    # gs:// -> bucket: server-side rewrite.
    def _copy(self, source: ObjectRef, dest: ObjectRef) -> StoredObject:
        blob = self.gcs.get(source)
        if blob is None:
            raise errors.NotFound(f"{source.uri} does not exist", reason="SOURCE_NOT_FOUND")
        content_type = video_content_type(blob.content_type or "", b"")
        if content_type is None and not blob.name.lower().endswith((".mp4", ".mov", ".webm")):
            raise not_a_video(f"content type {blob.content_type!r}")
        if (blob.size or 0) > self.settings.max_object_bytes:
            raise safe_fetch.too_large(int(blob.size or 0), self.settings.max_object_bytes)
        target = self.gcs.blob(dest)
        token: str | None = None
        try:
            for _ in range(_MAX_REWRITE_ROUNDS):
                token, _done, _total = target.rewrite(
                    blob,
                    token=token,
                    if_generation_match=0,
                    if_source_generation_match=blob.generation,
                    timeout=self.gcs.timeout,
                    retry=self.gcs.retry,
                )
                if token is None:
                    break
            else:
                raise errors.Unavailable("the copy did not finish", reason="COPY_INCOMPLETE", retry_after=5.0)
        except gexc.PreconditionFailed:
            return self._existing_or_changed(dest, source)
        if target.crc32c != blob.crc32c or target.size != blob.size:
            raise errors.Internal(
                f"the copy of {source.uri} does not match its source", reason="COPY_MISMATCH"
            )
        return stored(target)

    def _existing_or_changed(self, dest: ObjectRef, source: ObjectRef) -> StoredObject:
        """After a 412: either the destination appeared meanwhile (reuse it) or the source changed."""
        existing = self.gcs.get(dest)
        if existing is None:
            raise errors.FailedPrecondition(
                f"{source.uri} changed during the copy", reason="SOURCE_CHANGED", retry_after=1.0
            )
        return stored(existing, reused=True)

    def _delete_source(self, source: ObjectRef, copied: StoredObject) -> None:
        """Delete the source only when the destination holds the same bytes (a retry may find it gone)."""
        blob = self.gcs.get(source)
        if blob is None:
            return
        if blob.crc32c != copied.crc32c or int(blob.size or 0) != copied.size_bytes:
            log.warning("source kept: it differs from the stored destination", source=source.uri)
            return
        # Gone already, or replaced by a newer object we have not copied: keep that one.
        with contextlib.suppress(gexc.NotFound, gexc.PreconditionFailed):
            blob.delete(if_generation_match=blob.generation, timeout=self.gcs.timeout, retry=self.gcs.retry)

    # https:// -> bucket: streamed through a bounded pipe into a resumable upload.
    async def _stream(self, source: HttpsSource, dest: ObjectRef) -> StoredObject:
        timeout = self.settings.fetch_total_timeout_seconds
        async with deadline(timeout, "fetching the source", reason="SOURCE_TOO_SLOW"):
            blob, total = await self._transfer(source, dest)
        if blob is None:
            existing = await self.gcs.run(self.gcs.get, dest)
            if existing is None:
                raise errors.Unavailable(
                    "the upload was refused; try again", reason="UPLOAD_CONFLICT", retry_after=1.0
                )
            return stored(existing, reused=True)
        if int(blob.size or 0) != total:
            raise errors.Internal(f"the upload of {dest.uri} is incomplete", reason="UPLOAD_MISMATCH")
        return stored(blob)

    async def _transfer(self, source: HttpsSource, dest: ObjectRef) -> tuple[storage.Blob | None, int]:
        """Download into the pipe while the upload drains it: (the stored blob or None, bytes fetched)."""
        limit = self.settings.max_object_bytes
        async with self.fetcher.open(source.url, source.headers) as response:
            declared = response.headers.get("content-type", "")
            length = int(response.headers.get("content-length") or 0)
            if length > limit:
                raise safe_fetch.too_large(length, limit)
            pipe = Pipe(self.settings.upload_chunk_bytes)
            upload: asyncio.Task[storage.Blob | None] | None = None
            total = 0
            try:
                async for piece in safe_fetch.iter_body(response, _PIECE_BYTES):
                    total += len(piece)
                    if total > limit:
                        raise safe_fetch.too_large(total, limit)
                    await pipe.put(piece)
                    if upload is None and total >= _SNIFF_BYTES:
                        upload = self._start_upload(pipe, dest, declared)
                if total == 0:
                    raise not_a_video("the source is empty")
                upload = upload or self._start_upload(pipe, dest, declared)
                pipe.end()
                return await upload, total
            except BaseException:
                # The upload thread stops at its next read; without a final chunk no object appears.
                pipe.abandon()
                if upload is not None:
                    upload.cancel()
                raise

    def _start_upload(self, pipe: Pipe, dest: ObjectRef, declared: str) -> asyncio.Task[storage.Blob | None]:
        content_type = video_content_type(declared, pipe.head(_SNIFF_BYTES))
        if content_type is None:
            raise not_a_video(f"content type {declared or '(none)'!r}")
        return asyncio.ensure_future(self.gcs.run(self._upload, pipe, dest, content_type))

    def _upload(self, pipe: Pipe, dest: ObjectRef, content_type: str) -> storage.Blob | None:
        """Blocking: the resumable upload, chunk by chunk from the pipe. None when the destination appeared
        meanwhile (the precondition failed)."""
        blob = self.gcs.blob(dest)
        blob.chunk_size = self.settings.upload_chunk_bytes
        try:
            blob.upload_from_file(
                pipe,
                content_type=content_type,
                if_generation_match=0,
                timeout=self.gcs.timeout,
                retry=self.gcs.retry,
            )
        except gexc.PreconditionFailed:
            return None
        return blob

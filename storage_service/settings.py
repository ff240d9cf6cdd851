"""storage_service settings (environment variables, prefix VIDEOJOBS_ unless noted)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from videojobs.settings import FetchSettings
from videojobs.storage_emulator import StorageEmulatorSettings

MAX_SIGNED_URL_TTL_SECONDS = 7 * 24 * 3600  # the V4 signing limit
_RESUMABLE_CHUNK_MULTIPLE = 256 * 1024  # GCS resumable chunks must be multiples of 256 KiB


class StorageServiceSettings(FetchSettings, StorageEmulatorSettings):
    storage_host: str = "127.0.0.1"
    storage_port: int = Field(default=50053, ge=0, le=65535)

    bucket: str = Field(default="videojobs-dev", min_length=3, max_length=222)
    source_buckets: tuple[str, ...] = Field(
        default=(),
        description="Other buckets gs:// sources may be read (and, with delete_source, deleted) from.",
    )
    credentials_file: Path | None = Field(
        default=None,
        description="Service-account JSON key; unset uses Application Default Credentials "
        "(or anonymous access against the emulator).",
    )
    emulator_public_url: str | None = Field(
        default=None,
        description="Base URL that links to emulator objects name, as a browser reaches the emulator "
        "(e.g. http://127.0.0.1:4443 where the emulator is http://gcs:4443 inside a compose network); "
        "unset: the emulator's own address.",
    )
    gcs_timeout_seconds: float = Field(default=30.0, gt=0, description="Per HTTP request to GCS.")
    gcs_retry_seconds: float = Field(default=20.0, gt=0, description="Total retry budget per GCS call.")
    io_threads: int = Field(default=16, ge=1, description="Threads running blocking GCS and decoding calls.")

    max_object_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest video Relocate accepts.")
    upload_chunk_bytes: int = Field(default=8 * 1024 * 1024, ge=_RESUMABLE_CHUNK_MULTIPLE)
    read_chunk_bytes: int = Field(
        default=256 * 1024, ge=16 * 1024, description="Range size for probing and thumbnails."
    )
    media_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Whole ProbeVideo / CreateThumbnail call (reads, decoding, upload)."
    )

    fetch_total_timeout_seconds: float = Field(default=900.0, gt=0)

    signed_url_ttl_seconds: int = Field(default=3600, ge=1, le=MAX_SIGNED_URL_TTL_SECONDS)
    thumbnail_max_width: int = Field(default=640, ge=16, le=4096)
    thumbnail_jpeg_quality: int = Field(default=85, ge=1, le=95)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.upload_chunk_bytes % _RESUMABLE_CHUNK_MULTIPLE:
            raise ValueError("upload_chunk_bytes must be a multiple of 256 KiB")
        return self

    @property
    def address(self) -> str:
        return f"{self.storage_host}:{self.storage_port}"

    @property
    def emulator_link_url(self) -> str | None:
        """Where links to emulator objects point (signed or not); None when GCS is the real one."""
        if self.emulator_url is None:
            return None
        return (self.emulator_public_url or self.emulator_url).rstrip("/")

    @property
    def readable_buckets(self) -> frozenset[str]:
        return frozenset((self.bucket, *self.source_buckets))

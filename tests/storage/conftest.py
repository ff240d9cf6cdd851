"""Fixtures for storage_service tests: a real service on loopback against the GCS emulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.cloud import storage

from tests.support.storage import (  # noqa: F401 - fixtures used by the tests in this package
    start_storage_service,
    storage_service,
    storage_stub,
)

Put = Callable[..., storage.Blob]


@pytest.fixture
def put(gcs_bucket: storage.Bucket) -> Put:
    """Write an object straight into the test bucket (as a provider would)."""

    def write(name: str, data: bytes, content_type: str = "video/mp4") -> storage.Blob:
        blob = gcs_bucket.blob(name)
        blob.upload_from_string(data, content_type=content_type)
        return blob

    return write


def uri(bucket: storage.Bucket, name: str) -> str:
    return f"gs://{bucket.name}/{name}"

"""The emulator the stack relies on enforces generation preconditions (what makes our writes idempotent)."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import PreconditionFailed
from google.cloud import storage


def test_emulator_enforces_if_generation_match(gcs_bucket: storage.Bucket) -> None:
    blob = gcs_bucket.blob("videos/u/j.mp4")
    blob.upload_from_string(b"first", content_type="video/mp4", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        gcs_bucket.blob("videos/u/j.mp4").upload_from_string(b"second", if_generation_match=0)
    assert gcs_bucket.blob("videos/u/j.mp4").download_as_bytes() == b"first"

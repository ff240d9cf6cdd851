"""A real GCS emulator for tests, reached through the real google-cloud-storage client."""

from __future__ import annotations

import uuid

from google.cloud import storage

from videojobs_cli import gcs_emulator


def emulator_client(url: str) -> storage.Client:
    return gcs_emulator.client(url, project="test")


def fresh_bucket(client: storage.Client) -> storage.Bucket:
    """A new, empty bucket, so tests sharing one emulator never see each other's objects."""
    return client.create_bucket(f"vj-test-{uuid.uuid4().hex[:12]}")

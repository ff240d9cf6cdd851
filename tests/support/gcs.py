"""A real GCS emulator for tests, reached through the real google-cloud-storage client."""

from __future__ import annotations

import uuid

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def emulator_client(url: str) -> storage.Client:
    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=url),
    )


def fresh_bucket(client: storage.Client) -> storage.Bucket:
    """A new, empty bucket, so tests sharing one emulator never see each other's objects."""
    return client.create_bucket(f"vj-test-{uuid.uuid4().hex[:12]}")

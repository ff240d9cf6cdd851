"""Signing without a private key goes through IAM with the account the credentials really are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from storage_service.domain import ObjectRef
from storage_service.signing import sign_sync


class MetadataCredentials:
    """Like google.auth.compute_engine.Credentials: the account is "default" until the first refresh."""

    def __init__(self) -> None:
        self.service_account_email = "default"
        self.token: str | None = None
        self.refreshes = 0

    @property
    def valid(self) -> bool:
        return self.token is not None

    def refresh(self, request: object) -> None:
        self.refreshes += 1
        self.service_account_email = "videojobs@example-project.iam.gserviceaccount.com"
        self.token = "access-token"


class RecordingBlob:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = calls

    def generate_signed_url(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "https://storage.googleapis.com/signed"


class SettingsWithoutEmulator:
    emulator_link_url = None


class FakeGcs:
    def __init__(self, signer: MetadataCredentials) -> None:
        self.signer = signer
        self.settings = SettingsWithoutEmulator()
        self.calls: list[dict[str, Any]] = []

    def blob(self, ref: ObjectRef) -> RecordingBlob:
        return RecordingBlob(self.calls)


def test_metadata_credentials_are_refreshed_before_their_account_is_read() -> None:
    credentials = MetadataCredentials()
    gcs = FakeGcs(credentials)
    urls, _ = sign_sync(gcs, [ObjectRef("bucket", "videos/u/j.mp4")], 600)  # type: ignore[arg-type]
    assert urls == ["https://storage.googleapis.com/signed"]
    assert credentials.refreshes == 1
    (call,) = gcs.calls
    assert call["service_account_email"] == "videojobs@example-project.iam.gserviceaccount.com"
    assert call["access_token"] == "access-token"
    assert call["expiration"] == timedelta(seconds=600)

"""Where the GCS emulator is: storage_service talks to it, the dashboard loads videos from it."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from videojobs.settings import CommonSettings


class StorageEmulatorSettings(CommonSettings):
    """One definition of the variable, so both services always read the same one (the Google client's own
    name, STORAGE_EMULATOR_HOST, or the prefixed one)."""

    storage_emulator_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STORAGE_EMULATOR_HOST", "VIDEOJOBS_STORAGE_EMULATOR_HOST"),
        description="e.g. http://127.0.0.1:4443: fake-gcs-server instead of GCS (a bare host:port is http).",
    )

    @property
    def emulator_url(self) -> str | None:
        host = self.storage_emulator_host
        if not host:
            return None
        return host if "://" in host else f"http://{host}"

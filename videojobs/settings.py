"""Settings every service shares. Each service extends `CommonSettings` with its own (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Good enough for a laptop; refused in production so it never guards a real deployment.
DEV_INTERNAL_TOKEN = "dev-internal-token"  # noqa: S105 - a public development default
# Shared secrets (the internal token, the JWT secret) are guessable below this length.
MIN_PRODUCTION_SECRET_CHARS = 32


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOJOBS_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    internal_token: SecretStr = Field(
        default=SecretStr(DEV_INTERNAL_TOKEN),
        description="Bearer token every internal gRPC call must carry.",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    startup_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a service waits for its dependencies at start-up (with backoff), then exits.",
    )
    reuse_port: bool = Field(
        default=False,
        description="Share the gRPC port with other processes (SO_REUSEPORT); `serve --processes` sets it. "
        "Off otherwise, so a second service started on a taken port fails instead of splitting its traffic.",
    )
    data_dir: Path = Field(
        default=Path(".videojobs"),
        description="Where embedded development services (Postgres, GCS emulator) keep their files.",
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        token = self.internal_token.get_secret_value()
        if self.environment == "production" and (
            token == DEV_INTERNAL_TOKEN or len(token) < MIN_PRODUCTION_SECRET_CHARS
        ):
            raise ValueError(
                "VIDEOJOBS_INTERNAL_TOKEN must be set to a real secret of at least "
                f"{MIN_PRODUCTION_SECRET_CHARS} characters in production"
            )
        return self


class FetchSettings(CommonSettings):
    """How a service fetches URLs it was given (`videojobs.safe_fetch`); the same variables everywhere."""

    fetch_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    fetch_read_timeout_seconds: float = Field(default=30.0, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_ca_file: Path | None = Field(default=None, description="Extra CA bundle for https sources.")
    fetch_allow_local: bool = Field(
        default=False,
        description="Development only: allow http:// sources and loopback/private addresses "
        "(link-local, e.g. the metadata server, stays refused).",
    )

    @model_validator(mode="after")
    def _refuse_local_fetches_in_production(self) -> Self:
        if self.environment == "production" and self.fetch_allow_local:
            raise ValueError("fetch_allow_local is a development setting; refused in production")
        return self

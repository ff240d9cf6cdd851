"""Settings every service shares. Each service extends `CommonSettings` with its own (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Good enough for a laptop; refused in production so it never guards a real deployment.
DEV_INTERNAL_TOKEN = "dev-internal-token"  # noqa: S105 - a public development default


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
    data_dir: Path = Field(
        default=Path(".videojobs"),
        description="Where embedded development services (Postgres, GCS emulator) keep their files.",
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        if self.environment == "production" and self.internal_token.get_secret_value() in {
            "",
            DEV_INTERNAL_TOKEN,
        }:
            raise ValueError("VIDEOJOBS_INTERNAL_TOKEN must be set to a real secret in production")
        return self

"""job_service settings (environment variables, prefix VIDEOJOBS_ unless noted)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from job_service.domain import KNOWN_PROVIDERS
from videojobs.settings import CommonSettings


class JobServiceSettings(CommonSettings):
    job_host: str = "127.0.0.1"
    job_port: int = Field(default=50051, ge=0, le=65535)
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "VIDEOJOBS_DATABASE_URL"),
        description="postgresql:// URL; unset starts an embedded Postgres under data_dir.",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_statement_timeout_ms: int = Field(default=10_000, ge=100)
    daily_limit: int = Field(default=50, ge=0, description="Jobs a user may create per UTC day.")
    max_active: int = Field(default=5, ge=1, description="Non-terminal jobs a user may have at once.")
    active_limit_retry_seconds: float = Field(default=15.0, gt=0)
    default_providers: tuple[str, ...] = ("sim",)

    @field_validator("default_providers")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - KNOWN_PROVIDERS
        if unknown or not value:
            raise ValueError(f"default_providers must be a non-empty subset of {sorted(KNOWN_PROVIDERS)}")
        return value

    @property
    def address(self) -> str:
        return f"{self.job_host}:{self.job_port}"

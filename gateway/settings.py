"""gateway settings (environment variables, prefix VIDEOJOBS_)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from videojobs.settings import CommonSettings

DEV_JWT_SECRET_REFUSED = {"", "secret", "changeme", "dev-jwt-secret"}


class GatewaySettings(CommonSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    job_target: str = "127.0.0.1:50051"
    provider_target: str = "127.0.0.1:50052"
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")

    rpc_timeout_seconds: float = Field(default=10.0, gt=0, description="deadline of each unary gRPC call")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="larger request bodies get 413")
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    ready_requires_provider: bool = Field(
        default=True, description="/readyz also needs provider_service (it serves the webhook routes)"
    )

    # Authentication
    api_key_cache_seconds: float = Field(default=30.0, ge=0, description="how long a checked key is trusted")
    api_key_cache_size: int = Field(default=10_000, ge=1)
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 secret of the app's own login")
    jwt_public_keys: tuple[str, ...] = Field(default=(), description="PEM public keys accepted for RS256")
    jwt_audience: str | None = Field(
        default=None, description="required `aud`, e.g. Supabase's 'authenticated'"
    )
    jwt_issuer: str | None = None
    jwt_leeway_seconds: float = Field(default=30.0, ge=0)

    # Rate limiting: a token bucket per user (per worker process); 0 turns it off.
    rate_limit_per_second: float = Field(default=10.0, ge=0)
    rate_limit_burst: int = Field(default=40, ge=1)

    @model_validator(mode="after")
    def _refuse_weak_jwt_secret_in_production(self) -> Self:
        if (
            self.environment == "production"
            and self.jwt_secret is not None
            and (self.jwt_secret.get_secret_value() in DEV_JWT_SECRET_REFUSED or len(self.jwt_secret) < 32)
        ):
            raise ValueError(
                "VIDEOJOBS_JWT_SECRET must be a real secret of at least 32 characters in production"
            )
        return self

    @property
    def jwt_enabled(self) -> bool:
        return self.jwt_secret is not None or bool(self.jwt_public_keys)

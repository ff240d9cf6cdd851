"""gateway settings (environment variables, prefix VIDEOJOBS_)."""

from __future__ import annotations

import ipaddress
import re
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from videojobs.settings import MIN_PRODUCTION_SECRET_CHARS
from videojobs.storage_emulator import StorageEmulatorSettings

DEV_JWT_SECRET_REFUSED = {"", "secret", "changeme", "dev-jwt-secret"}
_HOST = re.compile(r"^([a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]+)$")  # a DNS name, IPv4, or IPv6 (no wildcards)
GCS_ORIGIN = "https://storage.googleapis.com"  # where storage_service's V4 signed URLs point (path style)


class GatewaySettings(StorageEmulatorSettings):
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
    jwt_max_lifetime_seconds: float = Field(
        default=24 * 3600, gt=0, description="longest accepted JWT lifetime, exp - iat (or exp - now)"
    )

    # Where the dashboard's videos and thumbnails come from: its Content-Security-Policy allows exactly these.
    media_origins: tuple[str, ...] = Field(
        default=(),
        description="origins of the signed video/thumbnail URLs (e.g. a CDN); default: the emulator's "
        "when STORAGE_EMULATOR_HOST is set, else https://storage.googleapis.com",
    )

    # Rate limiting: a token bucket per user (per worker process); 0 turns it off.
    rate_limit_per_second: float = Field(default=10.0, ge=0)
    rate_limit_burst: int = Field(default=40, ge=1)
    # Per client address (per worker process): failed authentications, and provider webhooks; 0 turns off.
    auth_failure_per_second: float = Field(default=1.0, ge=0)
    auth_failure_burst: int = Field(default=20, ge=1)
    webhook_rate_per_second: float = Field(default=20.0, ge=0)
    webhook_rate_burst: int = Field(default=200, ge=1)

    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For names the client",
    )

    # What one client may cost before it has sent a whole request (gateway/http_limits.py).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="larger request heads get 431")
    request_head_timeout_seconds: float = Field(default=10.0, gt=0)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1)
    max_connections: int = Field(
        default=1000, ge=1, description="connections one worker serves; past it, requests get 503"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            ipaddress.ip_network(proxy, strict=False)  # raises ValueError on anything else
        return proxies

    @field_validator("media_origins")
    @classmethod
    def _bare_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(origin_of(origin) for origin in origins)

    @model_validator(mode="after")
    def _refuse_weak_jwt_secret_in_production(self) -> Self:
        if (
            self.environment == "production"
            and self.jwt_secret is not None
            and (
                self.jwt_secret.get_secret_value() in DEV_JWT_SECRET_REFUSED
                or len(self.jwt_secret) < MIN_PRODUCTION_SECRET_CHARS
            )
        ):
            raise ValueError(
                "VIDEOJOBS_JWT_SECRET must be a real secret of at least 32 characters in production"
            )
        return self

    @property
    def jwt_enabled(self) -> bool:
        return self.jwt_secret is not None or bool(self.jwt_public_keys)

    @property
    def dashboard_media_origins(self) -> tuple[str, ...]:
        if self.media_origins:
            return self.media_origins
        if self.storage_emulator_host:
            return (origin_of(self.storage_emulator_host),)
        return (GCS_ORIGIN,)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL or a bare `host:port` (taken as http, as the storage client does)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if (
        parts.scheme not in {"http", "https"}
        or not _HOST.match(parts.hostname or "")
        or parts.username
        or parts.query
        or parts.path not in {"", "/"}
    ):
        raise ValueError(f"{url!r} is not an http(s) origin (scheme://host[:port], no path)")
    return f"{parts.scheme}://{parts.netloc.lower()}"

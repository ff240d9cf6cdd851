"""provider_service settings (environment variables, prefix VIDEOJOBS_ unless noted).

Provider secrets also answer to the names the providers' own SDKs use (FAL_KEY, RUNWAYML_API_SECRET,
GEMINI_API_KEY), so an existing deployment's environment works unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from provider_service import catalog
from videojobs.settings import CommonSettings, FetchSettings


class ProviderServiceSettings(FetchSettings):
    # Fields with an SDK-style alias stay settable by their own name (tests, `ProviderServiceSettings(...)`).
    model_config = SettingsConfigDict(**CommonSettings.model_config, validate_by_name=True)

    provider_host: str = "127.0.0.1"
    provider_port: int = Field(default=50052, ge=0, le=65535)

    # Every provider call: explicit timeouts, bounded retries (status and cancel only; see calls.py).
    http_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    http_timeout_seconds: float = Field(default=30.0, gt=0, description="read/write timeout per request")
    retry_attempts: int = Field(default=4, ge=1, description="attempts per status/cancel call")
    retry_initial_seconds: float = Field(default=0.5, ge=0)
    retry_max_seconds: float = Field(
        default=8.0,
        ge=0,
        description="longest wait inside one RPC; longer Retry-After goes back as RetryInfo",
    )
    unavailable_retry_seconds: float = Field(
        default=15.0, gt=0, description="RetryInfo delay when the provider gave none"
    )

    # Input images a provider takes as bytes (Veo), fetched under the shared SSRF rules (fetch_* settings).
    image_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="largest image sent to Veo")

    # Veo: Vertex AI (OAuth bearer from application default credentials) or the Gemini API (API key).
    veo_mode: Literal["vertex", "gemini"] = "vertex"
    veo_project: str | None = Field(
        default=None, validation_alias=AliasChoices("VIDEOJOBS_VEO_PROJECT", "GOOGLE_CLOUD_PROJECT")
    )
    veo_location: str = "us-central1"
    veo_model: str = "veo-3.1-generate-001"
    veo_base_url: str | None = Field(
        default=None, description="override of https://{location}-aiplatform.googleapis.com (fakes)"
    )
    veo_access_token: SecretStr | None = Field(
        default=None, description="a fixed OAuth token instead of application default credentials"
    )
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VIDEOJOBS_GEMINI_API_KEY", "GEMINI_API_KEY")
    )
    gemini_model: str = "veo-3.1-generate-preview"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"

    # fal.ai queue API.
    fal_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VIDEOJOBS_FAL_KEY", "FAL_KEY")
    )
    fal_queue_url: str = "https://queue.fal.run"
    fal_text_model: str = "fal-ai/kling-video/v2.1/master/text-to-video"
    fal_image_model: str = "fal-ai/kling-video/v2.1/master/image-to-video"
    fal_webhook_url: str | None = Field(
        default=None, description="public URL of the gateway's POST /v1/webhooks/fal; unset: poll only"
    )
    fal_webhook_jwks: str | None = Field(
        default=None, description="fal's JWKS JSON (keys to verify webhooks)"
    )
    fal_webhook_jwks_file: Path | None = Field(default=None, description="a cached copy of fal's JWKS")
    fal_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    fal_status_streams: int = Field(
        default=200,
        ge=1,
        description="fal status streams open at once (AwaitGeneration); past that a call is UNAVAILABLE",
    )

    # Runway.
    runway_api_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VIDEOJOBS_RUNWAY_API_SECRET", "RUNWAYML_API_SECRET")
    )
    runway_base_url: str = "https://api.dev.runwayml.com"
    runway_version: str = "2024-11-06"
    runway_image_model: str = "gen4_turbo"
    runway_text_model: str = "gen4.5"

    # The local sim provider (`videojobs serve sim`); unset disables it.
    sim_url: str | None = "http://127.0.0.1:8090"

    @property
    def address(self) -> str:
        return f"{self.provider_host}:{self.provider_port}"

    def default_models(self) -> dict[str, tuple[str, str]]:
        """Provider -> (text model, image model) a spec without `model` gets."""
        veo = self.gemini_model if self.veo_mode == "gemini" else self.veo_model
        return {
            "veo": (veo, veo),
            "fal": (self.fal_text_model, self.fal_image_model),
            "runway": (self.runway_text_model, self.runway_image_model),
            "sim": ("sim", "sim"),
        }

    @model_validator(mode="after")
    def _default_models_are_offered(self) -> Self:
        """A default model outside the catalog would fail every job sent to it: refuse to start instead."""
        models = catalog.load()
        problems = []
        for provider, (text, image) in self.default_models().items():
            for mode, model_id in (("text_to_video", text), ("image_to_video", image)):
                entry = models.get(provider, model_id)
                if entry is None or mode not in entry.modes:
                    offered = ", ".join(m.id for m in models.of(provider) if mode in m.modes)
                    problems.append(f"{provider} {mode} model {model_id!r} is not in the catalog ({offered})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

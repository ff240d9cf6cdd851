"""Which providers this deployment can use, built from settings: one adapter each, or why not."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from provider_service import catalog, fal_webhook
from provider_service.adapters.base import Adapter
from provider_service.adapters.fal import FalAdapter
from provider_service.adapters.runway import RunwayAdapter
from provider_service.adapters.sim import SimAdapter
from provider_service.adapters.veo import TokenSource, VeoAdapter, retry_delay
from provider_service.calls import ProviderHttp, RetryHint, RetryPolicy, make_client
from provider_service.google_auth import ApplicationDefaultTokens, static_token
from provider_service.images import IMAGE_FIELD, ImageFetcher
from provider_service.settings import ProviderServiceSettings
from videojobs import errors, safe_fetch
from videojobs.contract import PROVIDERS


def unknown_provider(name: str) -> errors.FieldViolation | None:
    if name in PROVIDERS:
        return None
    return errors.FieldViolation("provider", f"unknown provider {name[:50]!r}; known: {', '.join(PROVIDERS)}")


# google-genai 3.x refuses video generation in API-key mode: Google is moving Veo to Vertex AI.
GEMINI_DEPRECATION = (
    "Veo through the Gemini API (VIDEOJOBS_VEO_MODE=gemini) is deprecated: google-genai 3.x no longer "
    "generates videos in API-key mode. Use Vertex AI (VIDEOJOBS_VEO_MODE=vertex, the default)."
)


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    configured: bool
    detail: str
    mode: str = ""
    deprecation: str = ""
    # The models a spec without `model` gets (from settings, whether or not the provider is configured).
    text_model: str = ""
    image_model: str = ""


class Registry:
    def __init__(
        self,
        adapters: dict[str, Adapter],
        missing: dict[str, str],
        modes: dict[str, tuple[str, str]] | None = None,
        defaults: dict[str, tuple[str, str]] | None = None,
        models: catalog.Catalog | None = None,
    ) -> None:
        self._adapters = adapters
        self._missing = missing
        self._modes = modes or {}  # provider -> (mode, deprecation)
        self._defaults = defaults or {}  # provider -> (text model, image model)
        self.catalog = models or catalog.load()

    def get(self, name: str) -> Adapter:
        if (unknown := unknown_provider(name)) is not None:
            raise errors.InvalidArgument([unknown])
        adapter = self._adapters.get(name)
        if adapter is None:
            raise errors.FailedPrecondition(
                f"{name} is not configured: {self._missing.get(name, 'no settings')}",
                reason="PROVIDER_NOT_CONFIGURED",
                metadata={"provider": name},
            )
        return adapter

    def describe(self) -> list[ProviderInfo]:
        return [
            ProviderInfo(
                name,
                name in self._adapters,
                self._missing.get(name, ""),
                *self._modes.get(name, ("", "")),
                *self._defaults.get(name, ("", "")),
            )
            for name in PROVIDERS
        ]

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()


def build_registry(
    settings: ProviderServiceSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    veo_tokens: TokenSource | None = None,
) -> Registry:
    """Adapters for every configured provider. `transport` replaces the network for all of them (tests)."""
    policy = RetryPolicy(
        attempts=settings.retry_attempts,
        initial=settings.retry_initial_seconds,
        max_wait=settings.retry_max_seconds,
        fallback_retry_after=settings.unavailable_retry_seconds,
    )

    def http(name: str, retry_hint: RetryHint | None = None) -> ProviderHttp:
        client = make_client(
            connect_timeout=settings.http_connect_timeout_seconds,
            timeout=settings.http_timeout_seconds,
            transport=transport,
        )
        return ProviderHttp(name, client, policy, retry_hint)

    adapters: dict[str, Adapter] = {}
    missing: dict[str, str] = {}

    def images() -> ImageFetcher:
        return ImageFetcher(
            safe_fetch.create_fetcher(settings, field=IMAGE_FIELD),
            max_bytes=settings.image_max_bytes,
            timeout=settings.http_timeout_seconds,
        )

    if settings.veo_mode == "gemini":
        if settings.gemini_api_key is None:
            missing["veo"] = "GEMINI_API_KEY is not set (VIDEOJOBS_VEO_MODE=gemini)"
        else:
            adapters["veo"] = VeoAdapter(
                http("veo", retry_delay),
                mode="gemini",
                model=settings.gemini_model,
                base_url=settings.gemini_base_url,
                api_key=settings.gemini_api_key.get_secret_value(),
                images=images(),
            )
    elif settings.veo_project is None:
        missing["veo"] = "VIDEOJOBS_VEO_PROJECT is not set (VIDEOJOBS_VEO_MODE=vertex)"
    else:
        location = settings.veo_location
        host = (
            "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
        )
        if veo_tokens is None:
            veo_tokens = (
                static_token(settings.veo_access_token.get_secret_value())
                if settings.veo_access_token
                else ApplicationDefaultTokens(timeout=settings.http_timeout_seconds)
            )
        adapters["veo"] = VeoAdapter(
            http("veo", retry_delay),
            mode="vertex",
            model=settings.veo_model,
            base_url=settings.veo_base_url or f"https://{host}",
            project=settings.veo_project,
            location=location,
            tokens=veo_tokens,
            images=images(),
        )

    if settings.fal_key is None:
        missing["fal"] = "FAL_KEY is not set"
    else:
        adapters["fal"] = FalAdapter(
            http("fal"),
            key=settings.fal_key.get_secret_value(),
            queue_url=settings.fal_queue_url,
            text_model=settings.fal_text_model,
            image_model=settings.fal_image_model,
            webhook_url=settings.fal_webhook_url,
            webhook_keys=fal_webhook.KeySet(settings.fal_webhook_jwks, settings.fal_webhook_jwks_file),
            webhook_tolerance=settings.fal_webhook_tolerance_seconds,
            stream_client=make_client(
                connect_timeout=settings.http_connect_timeout_seconds,
                timeout=settings.http_timeout_seconds,
                transport=transport,
                max_connections=settings.fal_status_streams,
            ),
        )

    if settings.runway_api_secret is None:
        missing["runway"] = "RUNWAYML_API_SECRET is not set"
    else:
        adapters["runway"] = RunwayAdapter(
            http("runway"),
            secret=settings.runway_api_secret.get_secret_value(),
            base_url=settings.runway_base_url,
            version=settings.runway_version,
            image_model=settings.runway_image_model,
            text_model=settings.runway_text_model,
        )

    if settings.sim_url:
        adapters["sim"] = SimAdapter(http("sim"), base_url=settings.sim_url)
    else:
        missing["sim"] = "VIDEOJOBS_SIM_URL is empty"
    veo_mode = (settings.veo_mode, GEMINI_DEPRECATION if settings.veo_mode == "gemini" else "")
    return Registry(adapters, missing, {"veo": veo_mode}, settings.default_models())

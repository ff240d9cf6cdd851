"""What the deployment files (docker-compose.yml, deploy/kubernetes/) are checked against: each service's
settings class, so a variable, value or port that the service would not read fails a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from job_service.settings import JobServiceSettings
from provider_service.settings import ProviderServiceSettings
from provider_service.sim.server import SimSettings
from storage_service.settings import StorageServiceSettings

# `videojobs serve <name>` (and `videojobs migrate`) -> the settings class that process reads.
SETTINGS: dict[str, type[BaseSettings]] = {
    "job": JobServiceSettings,
    "worker": JobServiceSettings,
    "migrate": JobServiceSettings,
    "provider": ProviderServiceSettings,
    "storage": StorageServiceSettings,
    "gateway": GatewaySettings,
    "sim": SimSettings,
}
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
# Variables read under a name other than VIDEOJOBS_<FIELD>.
ALIASES = {
    "DATABASE_URL": "database_url",
    "STORAGE_EMULATOR_HOST": "storage_emulator_host",
    "FAL_KEY": "fal_key",
    "RUNWAYML_API_SECRET": "runway_api_secret",
    "GEMINI_API_KEY": "gemini_api_key",
}


def image_user() -> str:
    """The user the image's processes run as: the final stage's last USER."""
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    users = [line.split()[1] for line in final.splitlines() if line.startswith("USER ")]
    assert users, "the image runs as root"
    return users[-1]


def field(variable: str) -> str:
    return ALIASES.get(variable) or variable.removeprefix("VIDEOJOBS_").lower()


def listen_port(kind: str, settings: Any) -> int | None:
    """The port a process of this kind listens on (a worker: its health port; migrate: none)."""
    if kind == "migrate":
        return None
    port = settings.worker_health_port if kind == "worker" else getattr(settings, f"{kind}_port")
    return int(port) if port is not None else None


def settings_reading(
    kind: str,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    where: str,
    secrets: dict[str, str] | None = None,
) -> Any:
    """The settings a `kind` process builds from exactly `environment` (and `secrets`, stand-ins for values
    a cluster holds), after checking that it reads every variable and the value given (secrets: that it
    reads them at all)."""
    for variable in list(environment_names()):
        monkeypatch.delenv(variable, raising=False)
    for key, value in (environment | (secrets or {})).items():
        monkeypatch.setenv(key, value)
    settings = SETTINGS[kind]()
    for variable in secrets or {}:
        assert field(variable) in type(settings).model_fields, (
            f"{where}: {variable} is not a setting of `{kind}`"
        )
    for variable, value in environment.items():
        name = field(variable)
        assert name in type(settings).model_fields, f"{where}: {variable} is not a setting of `{kind}`"
        actual: Any = getattr(settings, name)
        if hasattr(actual, "get_secret_value"):
            actual = actual.get_secret_value()
        assert _same(actual, value), f"{where}: {variable}={value!r} is read as {actual!r}"
    return settings


def _same(actual: Any, given: str) -> bool:
    """Whether a setting holds the value an environment variable gave it."""
    if isinstance(actual, bool) or actual is None:
        return str(actual if actual is not None else "").lower() == given.lower()
    if isinstance(actual, int | float):
        return float(given) == actual
    if isinstance(actual, tuple):
        expected: object = json.loads(given)
        return list(actual) == expected
    return str(actual) == given


def environment_names() -> set[str]:
    """Every variable any service reads, so a test starts from none of them set."""
    import os

    known = set(ALIASES)
    for settings in SETTINGS.values():
        known |= {f"VIDEOJOBS_{name.upper()}" for name in settings.model_fields}
    return known & set(os.environ)

"""docker-compose.yml and the Dockerfile, checked against the code they run (no Docker engine is needed):
every service command exists, every variable is one its settings class reads, every address points at a
service of the file on the port that service listens on, and the image contains every package."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from job_service.settings import JobServiceSettings
from provider_service.settings import ProviderServiceSettings
from provider_service.sim.server import SimSettings
from storage_service.settings import StorageServiceSettings
from videojobs_cli.cli import SERVICES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS: dict[str, type[BaseSettings]] = {
    "job": JobServiceSettings,
    "worker": JobServiceSettings,
    "provider": ProviderServiceSettings,
    "storage": StorageServiceSettings,
    "gateway": GatewaySettings,
    "sim": SimSettings,
}
# Variables read under a name other than VIDEOJOBS_<FIELD>.
ALIASES = {"DATABASE_URL": "database_url", "STORAGE_EMULATOR_HOST": "storage_emulator_host"}
APP_SERVICES = {name: spec for name, spec in COMPOSE["services"].items() if "command" in spec}


def _field(variable: str) -> str:
    return ALIASES.get(variable) or variable.removeprefix("VIDEOJOBS_").lower()


def _settings(service: str, monkeypatch: pytest.MonkeyPatch) -> tuple[BaseSettings, dict[str, str]]:
    environment = {key: str(value) for key, value in APP_SERVICES[service]["environment"].items()}
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    kind = APP_SERVICES[service]["command"][1]
    return SETTINGS[kind](), environment


def test_every_service_runs_a_real_command() -> None:
    assert set(APP_SERVICES) == {"sim", "provider", "storage", "job", "worker", "gateway"}
    for spec in APP_SERVICES.values():
        assert spec["command"][0] == "serve"
        assert spec["command"][1] in SERVICES


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_every_variable_is_read_by_the_service(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, environment = _settings(service, monkeypatch)
    for variable, value in environment.items():
        field = _field(variable)
        assert hasattr(settings, field), f"{service}: {variable} is not a setting of this service"
        actual: Any = getattr(settings, field)
        if hasattr(actual, "get_secret_value"):
            actual = actual.get_secret_value()
        assert str(actual).lower() == value.lower(), f"{service}: {variable}"


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_addresses_point_at_services_of_this_file(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, environment = _settings(service, monkeypatch)
    listening = {
        "job": JobServiceSettings().job_port,
        "provider": ProviderServiceSettings().provider_port,
        "storage": StorageServiceSettings().storage_port,
    }
    for variable, value in environment.items():
        if variable.endswith("_TARGET"):
            host, port = value.rsplit(":", 1)
            assert host in COMPOSE["services"], f"{service}: {variable} names no service"
            assert int(port) == listening[host], f"{service}: {variable} is not where {host} listens"


def test_services_listen_on_all_interfaces_inside_their_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in ("provider", "storage", "job", "gateway", "sim"):
        with monkeypatch.context() as patch:
            settings, _ = _settings(service, patch)
            host = next(
                getattr(settings, f)
                for f in ("job_host", "provider_host", "storage_host", "gateway_host", "sim_host")
                if hasattr(settings, f)
            )
            assert host == "0.0.0.0", service


def test_the_image_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile, package

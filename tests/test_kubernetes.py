"""deploy/kubernetes/, as `kubectl kustomize` renders it, checked against one pinned Kubernetes version
(kubernetes-validate, strict: no unknown fields) and against the code the containers run, as
test_compose.py checks docker-compose.yml: every command is real, every variable is read by that
service's settings (with the value given), every port is the one the settings listen on, every probe and
Service points at it, every address names a Service on its port, and the connection budget fits Postgres.
Then what the overlay promises: the gateway is the only way in, gRPC probes, requests and limits,
autoscaling, disruption budgets, network policies, one migration Job."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.deployment import image_user, listen_port, settings_reading
from videojobs_cli.cli import SERVICES

ROOT = Path(__file__).resolve().parents[1]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = {"base": KUSTOMIZE / "base", "production": KUSTOMIZE / "overlays" / "production"}
# The oldest Kubernetes the manifests are for: native sidecars (the Cloud SQL proxy) and PreStop sleep.
KUBERNETES_VERSION = "1.33.0"
PROJECT_IMAGE = {
    "base": "videojobs:dev",
    "production": "europe-west1-docker.pkg.dev/PROJECT/videojobs/videojobs",
}
# Other images a pod may carry, as sidecars only, pinned to a version.
SIDECAR_IMAGES = {"gcr.io/cloud-sql-connectors/cloud-sql-proxy"}
GRPC = {"job", "worker", "provider", "storage"}
# Who may open connections to whom (NetworkPolicy), by component.
CALLERS = {"job": {"gateway"}, "provider": {"gateway", "job", "worker"}, "storage": {"job", "worker"}}
# README "Sizing": the production overlay is sized for a Postgres with this max_connections; keep
# superuser_reserved_connections (3) and a few for operators free.
PRODUCTION_MAX_CONNECTIONS = 250
RESERVED_CONNECTIONS = 3 + 5
# Stand-ins for the Secret's values, which the cluster holds: only their names are checked.
SECRET_STANDINS = {"DATABASE_URL": "postgresql://videojobs:x@127.0.0.1:5432/videojobs"}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = Path(sys.executable).parent / "kubectl"
    output = subprocess.run(
        [str(kubectl), "kustomize", str(OVERLAYS[overlay])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(output) if doc)


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in rendered(overlay) if doc["kind"] == kind}


def workloads(overlay: str) -> dict[str, dict[str, Any]]:
    """Deployments and the migration Job, by component label."""
    found = {}
    for doc in rendered(overlay):
        if doc["kind"] in ("Deployment", "Job"):
            found[doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]] = doc
    return found


def app_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    [container] = containers
    return container


def kind_of(container: dict[str, Any]) -> str:
    args = container["args"]
    return str(args[1] if args[0] == "serve" else args[0])


def environment(overlay: str, container: dict[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(plain values, secret references) as the kubelet assembles them: envFrom in order, then env."""
    configmaps = of_kind(overlay, "ConfigMap")
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values.update(configmaps[source["configMapRef"]["name"]].get("data", {}))
    secrets = {}
    for variable in container.get("env", []):
        if "value" in variable:
            values[variable["name"]] = variable["value"]
        else:
            secrets[variable["name"]] = variable["valueFrom"]["secretKeyRef"]
    return values, secrets


def settings_of(overlay: str, component: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    container = app_container(workloads(overlay)[component])
    values, secrets = environment(overlay, container)
    standins = {name: SECRET_STANDINS.get(name, "s" * 40) for name in secrets}
    with monkeypatch.context() as patch:
        return settings_reading(
            kind_of(container), values, patch, where=f"{overlay}/{component}", secrets=standins
        )


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(overlay: str) -> None:
    assert rendered(overlay)
    for doc in rendered(overlay):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_workload_runs_a_real_command_of_the_project_image(overlay: str) -> None:
    found = workloads(overlay)
    assert set(found) == {"gateway", "job", "worker", "provider", "storage", "migrate"}
    for component, workload in found.items():
        container = app_container(workload)
        assert container["image"].rsplit(":", 1)[0] == PROJECT_IMAGE[overlay].rsplit(":", 1)[0], component
        assert container["args"] in (["serve", component], ["migrate"]), component
        assert container["args"] == ["migrate"] or component in SERVICES
        for sidecar in workload["spec"]["template"]["spec"].get("initContainers", []):
            image, _, tag = sidecar["image"].rpartition(":")
            assert image in SIDECAR_IMAGES, sidecar["image"]
            assert tag not in ("", "latest"), sidecar["image"]
            assert sidecar["restartPolicy"] == "Always", "init containers here are sidecars"
    if overlay == "production":
        tags = {app_container(w)["image"].rsplit(":", 1)[1] for w in found.values()}
        assert len(tags) == 1, "every service runs the same release"
        assert tags.isdisjoint({"latest", "dev"})


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
@pytest.mark.parametrize("component", ["gateway", "job", "worker", "provider", "storage", "migrate"])
def test_every_variable_is_read_by_the_service(
    overlay: str, component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(overlay, component, monkeypatch)
    _values, secrets = environment(overlay, app_container(workloads(overlay)[component]))
    for name, ref in secrets.items():
        assert (ref["name"], ref["key"]) == ("videojobs", name), f"{component}: {name} from the Secret"
    assert settings.environment == "production"
    if component in ("job", "worker"):
        assert settings.migrate_on_start is False, "replicas never migrate; the migration Job does"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_secrets_go_only_where_they_are_needed(overlay: str) -> None:
    holders: dict[str, set[str]] = {}
    for component, workload in workloads(overlay).items():
        for name in environment(overlay, app_container(workload))[1]:
            holders.setdefault(name, set()).add(component)
    assert holders["DATABASE_URL"] == {"job", "worker", "migrate"}
    for key in ("FAL_KEY", "RUNWAYML_API_SECRET", "GEMINI_API_KEY"):
        assert holders[key] == {"provider"}, key
    assert holders["VIDEOJOBS_JWT_SECRET"] == {"gateway"}
    # job_service's settings (which the migration reads too) refuse to start without real keys in production.
    assert holders["VIDEOJOBS_WEBHOOK_SECRET_KEYS"] == {"job", "worker", "migrate"}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_ports_and_probes_are_where_the_settings_listen(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for component, workload in workloads(overlay).items():
        if component == "migrate":
            continue
        container = app_container(workload)
        settings = settings_of(overlay, component, monkeypatch)
        port = listen_port(kind_of(container), settings)
        metrics = [getattr(settings, "metrics_port", None)] if component in ("job", "worker") else []
        assert [p["containerPort"] for p in container["ports"]] == [port, *metrics], component
        if metrics:
            assert metrics == [9464], "job metrics are served on every job and worker pod"
            assert settings.metrics_host == "0.0.0.0"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            spec = container[probe]
            if component in GRPC:
                assert port_number(container, spec["grpc"]["port"]) == port, f"{component} {probe}"
            else:
                assert port_number(container, spec["httpGet"]["port"]) == port, f"{component} {probe}"
        if component == "gateway":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_services_and_targets_reach_the_listening_ports(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = of_kind(overlay, "Service")
    pods = {c: w["spec"]["template"]["metadata"]["labels"] for c, w in workloads(overlay).items()}
    for name, service in services.items():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"{name}: only the Ingress is public"
        [component] = [
            c for c, labels in pods.items() if service["spec"]["selector"].items() <= labels.items()
        ]
        container = app_container(workloads(overlay)[component])
        for port in service["spec"]["ports"]:
            assert port_number(container, port["targetPort"]) == port["port"], name
    assert set(services) == {"gateway", "job", "provider", "storage"}
    for component in ("gateway", "job", "worker"):
        settings = settings_of(overlay, component, monkeypatch)
        for field in ("job_target", "provider_target", "storage_target"):
            if not hasattr(settings, field) or (component != "gateway" and field == "job_target"):
                continue
            host, port = getattr(settings, field).rsplit(":", 1)
            assert host in services, f"{component}: {field} names no Service"
            assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], f"{component}: {field}"
    assert (
        settings_of(overlay, "job", monkeypatch).bucket == settings_of(overlay, "storage", monkeypatch).bucket
    )


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_gateway_is_the_only_way_in(overlay: str) -> None:
    [ingress] = of_kind(overlay, "Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    if overlay == "production":
        assert ingress["spec"]["tls"], "the public API is served over TLS"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for component, workload in workloads(overlay).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, component
        assert str(pod["securityContext"]["runAsUser"]) == image_user(), f"{component}: the image's user"
        for container in pod["containers"] + pod.get("initContainers", []):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (
                    f"{component}/{container['name']}"
                )
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_autoscaling_and_disruption_budgets(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind(overlay, "HorizontalPodAutoscaler").values()
    }
    assert scaled == {"gateway", "worker"}
    for name in scaled:
        assert "replicas" not in deployments[name]["spec"], f"{name}: the autoscaler owns replicas"
    budgets = of_kind(overlay, "PodDisruptionBudget").values()
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets), name
        assert deployment["spec"].get("replicas", 2) >= 2, f"{name}: one replica cannot survive a drain"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_only_the_gateway_and_the_workers_reach_the_internal_services(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy").values()
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies), (
        "default deny"
    )
    for component, callers in CALLERS.items():
        allowed: set[str] = set()
        for policy in policies:
            if (
                policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
                != component
            ):
                continue
            for rule in policy["spec"]["ingress"]:
                assert rule.get("from"), f"{component}: a rule without `from` admits everyone"
                allowed |= {
                    peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
                }
        assert allowed == callers, component


def test_connections_at_full_scale_fit_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job API replica and the workers at the autoscaler's maximum, each at its most, plus the
    migration Job, within the max_connections the README asks of the production database."""
    deployments = of_kind("production", "Deployment")
    worker_max = of_kind("production", "HorizontalPodAutoscaler")["worker"]["spec"]["maxReplicas"]
    api = settings_of("production", "job", monkeypatch).max_db_connections(serves_api=True)
    worker = settings_of("production", "worker", monkeypatch)
    assert worker.db_pool_size + worker.db_max_overflow >= worker.worker_concurrency
    total = deployments["job"]["spec"]["replicas"] * api + worker_max * worker.max_db_connections(
        serves_api=False
    )
    total += 1  # the migration Job
    assert total <= PRODUCTION_MAX_CONNECTIONS - RESERVED_CONNECTIONS, total


def test_production_reaches_cloud_sql_through_the_proxy_and_gcs_as_itself() -> None:
    for component in ("job", "worker", "migrate"):
        pod = workloads("production")[component]["spec"]["template"]["spec"]
        assert [c["name"] for c in pod.get("initContainers", [])] == ["cloud-sql-proxy"], component
    for component in ("gateway", "provider", "storage"):
        assert "initContainers" not in workloads("production")[component]["spec"]["template"]["spec"]
    accounts = of_kind("production", "ServiceAccount")
    for name in ("videojobs-storage", "videojobs-provider", "videojobs-job"):
        assert accounts[name]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"], name
    storage = app_container(workloads("production")["storage"])
    assert not {"STORAGE_EMULATOR_HOST", "VIDEOJOBS_CREDENTIALS_FILE"} & set(
        environment("production", storage)[0]
    ), "Workload Identity: no emulator, no key file"
    assert all(
        doc["metadata"].get("namespace") == "videojobs"
        for doc in rendered("production")
        if doc["kind"] != "Namespace"
    )
    assert json.dumps(of_kind("production", "Namespace")["videojobs"]).count("restricted") == 1

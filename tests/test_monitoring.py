"""The Grafana dashboard and the Prometheus alert rules in docs/monitoring/ parse, are well-formed, and name
only metrics job_service really exports (a renamed metric would otherwise leave a blank panel or an alert
that can never fire)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from job_service.metrics import JobMetrics

MONITORING = Path(__file__).resolve().parents[1] / "docs" / "monitoring"
_METRIC = re.compile(r"\bvideojobs_[a-z_]+\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in JobMetrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return loaded


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_dashboard_is_a_grafana_dashboard_of_our_metrics() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels) > 5
    exported = exported_names()
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            named = set(_METRIC.findall(target["expr"]))
            assert named, target["expr"]
            assert named <= exported, (panel["title"], named - exported)
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_alert_rules_cover_stuck_jobs_failure_rate_and_queue_age() -> None:
    exported = exported_names()
    loaded = rules()
    for rule in loaded:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"page", "ticket"}
        named = set(_METRIC.findall(rule["expr"]))
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    expressions = " ".join(rule["expr"] for rule in loaded)
    for metric in (
        "videojobs_oldest_due_seconds",
        "videojobs_jobs_finished_total",
        "videojobs_job_state_seconds",
    ):
        assert metric in expressions


def test_every_job_metric_is_on_the_dashboard() -> None:
    shown = {
        name
        for panel in dashboard()["panels"]
        for t in panel["targets"]
        for name in _METRIC.findall(t["expr"])
    }
    families = {family.name for family in JobMetrics().registry.collect()}
    missing = {family for family in families if not any(name.startswith(family) for name in shown)}
    assert not missing

"""Prometheus metrics of one app: requests by route template and status, latency, jobs created/replayed.

Each app owns its registry, so several apps in one process (tests) never collide. With several uvicorn
workers, `PROMETHEUS_MULTIPROC_DIR` makes /metrics add up every worker (prometheus-client multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "videojobs_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "videojobs_http_request_duration_seconds",
            "HTTP request latency (until the response starts) by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Counter(
            "videojobs_gateway_jobs",
            "Create calls by outcome: a new job, or a replay of an earlier one",
            ["outcome"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "videojobs_gateway_rate_limited", "Requests refused by the rate limiter", registry=self.registry
        )

        # labels() takes a lock and builds its key on every call; the label sets are few (routes x statuses).
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One finished request (until its response started)."""
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(method, route))
            self._children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

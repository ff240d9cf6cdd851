"""The sim provider as an HTTP service (`videojobs serve sim`): takes a job, takes a while, renders an MP4.

It runs as its own process, beside provider_service rather than inside it, because it stands in for an
external provider: provider_service reaches it over HTTP through the same adapter code path as Veo, fal and
Runway, and outputs are downloaded from it like fal/Runway outputs.

Outcomes: `VIDEOJOBS_SIM_OUTCOME` (success, failure, rejected, content_violation, slow) for every job, or per
job with a marker in the prompt: `[sim:success]`, `[sim:fail]` (a retryable failure), `[sim:reject]` (a
permanent one), `[sim:violation]`, `[sim:slow]`.
The protocol is documented in provider_service/adapters/sim.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from provider_service.local_http import LocalHttpServer, Request, Response
from provider_service.sim.render import render_mp4
from videojobs.logs import configure_logging, get_logger
from videojobs.settings import CommonSettings

log = get_logger(__name__)

Outcome = Literal["success", "failure", "rejected", "content_violation", "slow"]
_MARKERS: dict[str, Outcome] = {
    "[sim:success]": "success",
    "[sim:fail]": "failure",
    "[sim:reject]": "rejected",
    "[sim:violation]": "content_violation",
    "[sim:slow]": "slow",
}
_GENERATION = re.compile(r"^/v1/generations/([\w-]+)$")
_FILE = re.compile(r"^/files/([\w-]+)\.mp4$")


class SimSettings(CommonSettings):
    sim_host: str = "127.0.0.1"
    sim_port: int = Field(default=8090, ge=0, le=65535)
    sim_public_url: str | None = Field(
        default=None,
        description="Base URL output links name, as callers reach the sim (e.g. http://sim:8090); "
        "unset: the listen address, which must then be a specific one.",
    )
    sim_job_seconds: float = Field(default=3.0, ge=0, description="how long a job takes")
    sim_slow_seconds: float = Field(default=60.0, ge=0, description="how long a 'slow' job takes")
    sim_outcome: Outcome = "success"
    sim_video_seconds: float = Field(default=4.0, gt=0, le=30, description="longest video rendered")
    sim_width: int = Field(default=320, ge=16, le=1920)
    sim_height: int = Field(default=180, ge=16, le=1080)
    sim_max_jobs: int = Field(default=500, ge=1, description="older jobs (and their videos) are forgotten")

    @model_validator(mode="after")
    def _public_url_is_an_address(self) -> Self:
        # 0.0.0.0 is where we listen, not an address anyone can fetch from: output links would be refused.
        if self.sim_public_url is None and _listens_everywhere(self.sim_host):
            raise ValueError(
                f"VIDEOJOBS_SIM_HOST={self.sim_host} listens on every interface; set "
                "VIDEOJOBS_SIM_PUBLIC_URL to the URL callers reach the sim at (e.g. http://sim:8090)"
            )
        return self


def _listens_everywhere(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_unspecified
    return False


@dataclass
class SimJob:
    id: str
    prompt: str
    seconds: float
    outcome: Outcome
    created: float
    takes: float
    cancelled: bool = False
    video: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimProvider:
    """The request handler and the jobs it knows (in memory: a development stand-in)."""

    def __init__(self, settings: SimSettings, *, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.public_url = ""  # set once the server is bound; output URLs point here
        self._jobs: dict[str, SimJob] = {}
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/v1/generations":
            return self._submit(request)
        if request.method == "GET" and request.path == "/healthz":
            return Response.json({"status": "ok"})
        if match := _GENERATION.match(request.path):
            job = self._jobs.get(match.group(1))
            if job is None:
                return Response.json({"error": "no such generation"}, 404)
            if request.method == "GET":
                return Response.json(self._view(job))
            if request.method == "DELETE":
                return self._cancel(job)
        if (match := _FILE.match(request.path)) and request.method in ("GET", "HEAD"):
            job = self._jobs.get(match.group(1))
            if job is None or job.video is None:
                return Response.json({"error": "no such file"}, 404)
            return Response(200, job.video, {"Content-Type": "video/mp4"})
        return Response.json({"error": f"no route for {request.method} {request.path}"}, 404)

    def _submit(self, request: Request) -> Response:
        try:
            body = request.json()
            prompt = str(body.get("prompt") or "")
            key = str(body.get("idempotency_key") or "")
            duration = float(body.get("duration_seconds") or 0)
        except (ValueError, TypeError, AttributeError):
            return Response.json({"error": "body must be a JSON object"}, 400)
        with self._lock:
            if key and key in self._by_key and self._by_key[key] in self._jobs:
                return Response.json({"id": self._by_key[key]}, 200)
            outcome = next(
                (o for marker, o in _MARKERS.items() if marker in prompt), self.settings.sim_outcome
            )
            takes = self.settings.sim_slow_seconds if outcome == "slow" else self.settings.sim_job_seconds
            job = SimJob(
                id=uuid.uuid4().hex,
                prompt=prompt,
                seconds=min(duration or self.settings.sim_video_seconds, self.settings.sim_video_seconds),
                outcome=outcome,
                created=self.clock(),
                takes=takes,
            )
            self._jobs[job.id] = job
            if key:
                self._by_key[key] = job.id
            while len(self._jobs) > self.settings.sim_max_jobs:
                del self._jobs[next(iter(self._jobs))]
        log.info("sim job accepted", sim_job_id=job.id, outcome=outcome, takes_seconds=takes)
        return Response.json({"id": job.id}, 201)

    def _cancel(self, job: SimJob) -> Response:
        view = self._view(job)
        if view["status"] not in ("queued", "running"):
            return Response.json({"status": view["status"]}, 409)
        job.cancelled = True
        return Response.json({"status": "cancelled"})

    def _view(self, job: SimJob) -> dict[str, Any]:
        elapsed = self.clock() - job.created
        view: dict[str, Any] = {"id": job.id, "progress": min(1.0, elapsed / job.takes) if job.takes else 1.0}
        if job.cancelled:
            return view | {"status": "cancelled"}
        if elapsed < job.takes:
            return view | {"status": "queued" if elapsed < job.takes * 0.1 else "running"}
        if job.outcome == "failure":
            error = {"code": "SIM_FAILED", "message": "the sim provider was told to fail", "retryable": True}
            return view | {"status": "failed", "error": error}
        if job.outcome == "rejected":
            error = {
                "code": "SIM_REJECTED",
                "message": "the sim provider was told to reject",
                "retryable": False,
            }
            return view | {"status": "failed", "error": error}
        if job.outcome == "content_violation":
            error = {"code": "SIM_CONTENT_VIOLATION", "message": "the sim provider was told to refuse"}
            return view | {
                "status": "content_violation",
                "error": error,
                "violation_reasons": ["sim:violation"],
            }
        with job.lock:
            if job.video is None:
                job.video = render_mp4(
                    job.prompt,
                    seconds=job.seconds,
                    width=self.settings.sim_width,
                    height=self.settings.sim_height,
                )
        return view | {"status": "succeeded", "output_url": f"{self.public_url}/files/{job.id}.mp4"}


def _bind(settings: SimSettings) -> tuple[SimProvider, LocalHttpServer]:
    provider = SimProvider(settings)
    server = LocalHttpServer(provider.handle, host=settings.sim_host, port=settings.sim_port)
    provider.public_url = (settings.sim_public_url or server.url).rstrip("/")
    return provider, server


def start(settings: SimSettings) -> tuple[SimProvider, LocalHttpServer]:
    """The sim on `sim_host:sim_port` (0 picks a port) in a background thread."""
    provider, server = _bind(settings)
    return provider, server.start()


def main(settings: SimSettings | None = None) -> None:
    settings = settings or SimSettings()
    configure_logging(settings.log_level, settings.log_format)
    provider, server = _bind(settings)
    # As a container's PID 1 a process gets no default action for SIGTERM: without a handler, a stop
    # waits out the engine's grace period and ends in SIGKILL.
    signal.signal(signal.SIGTERM, _stop_serving)
    with contextlib.suppress(KeyboardInterrupt):
        log.info(
            "sim provider listening",
            url=server.url,
            public_url=provider.public_url,
            outcome=settings.sim_outcome,
        )
        server.serve_forever()
    log.info("sim provider stopped")


def _stop_serving(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")

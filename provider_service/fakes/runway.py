"""Runway's API on loopback: image_to_video, text_to_video, tasks GET/DELETE, output files."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from provider_service.catalog import sources
from provider_service.catalog.wire import validate
from provider_service.fakes.base import FakeJob, FakeProvider, Route, tiny_video
from provider_service.local_http import Request, Response

_TASK = re.compile(r"^/v1/tasks/([\w-]+)$")
_FILE = re.compile(r"^/files/([\w-]+)\.mp4$")
_FAILURES = {"failure": "ASSET.INVALID", "content_violation": "SAFETY.INPUT.TEXT"}


class RunwayFake(FakeProvider):
    name = "runway"

    def __init__(self, secret: str = "key_fake", version: str = "2024-11-06") -> None:  # noqa: S107
        super().__init__()
        self.secret = secret
        self.version = version

    def route(self, request: Request) -> Route | None:
        if request.method == "POST" and request.path in ("/v1/image_to_video", "/v1/text_to_video"):
            return "submit", self._create
        if match := _TASK.match(request.path):
            task_id = match.group(1)
            if request.method == "GET":
                return "status", lambda r: self._retrieve(r, task_id)
            if request.method == "DELETE":
                return "cancel", lambda r: self._delete(r, task_id)
        if (match := _FILE.match(request.path)) and request.method == "GET":
            task_id = match.group(1)
            return "download", lambda r: self._output(task_id)
        return None

    def error_response(self, status: int, retry_after: float | None) -> Response:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Response.json({"error": f"Service unavailable ({status})"}, status, headers)

    def unknown_status_response(self, request: Request) -> Response:
        task_id = request.path.rsplit("/", 1)[-1]
        return Response.json({"id": task_id, "status": "PAUSED", "createdAt": _now()})

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.secret}":
            return Response.json({"error": "Invalid API key"}, 401)
        if request.headers.get("x-runway-version") != self.version:
            return Response.json({"error": "X-Runway-Version header is missing or invalid"}, 400)
        return None

    def _create(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        try:
            body: dict[str, Any] = request.json()
        except ValueError:
            return Response.json({"error": "Invalid JSON"}, 400)
        if issues := self.issues(request.path.rsplit("/", 1)[-1], body):
            self.refused.append(body)
            return Response.json({"error": "Validation of body failed", "issues": issues}, 400)
        job = self.new_job(str(uuid.uuid4()), body)
        job.extra["createdAt"] = _now()
        return Response.json({"id": job.id})

    @staticmethod
    def issues(endpoint: str, body: Any) -> list[dict[str, Any]]:
        """What Runway's validation says about a body: the params runwayml types for the named model."""
        if not isinstance(body, dict):
            return [{"path": [], "message": "Expected object"}]
        models = [
            m for m in sources.offered()["runway"]["models"] if endpoint in sources.runway_endpoints(m["id"])
        ]
        model = body.get("model")
        if not isinstance(model, str) or model not in [m["id"] for m in models]:
            expected = " | ".join(repr(m["id"]) for m in models)
            return [{"path": ["model"], "message": f"Invalid discriminator value. Expected {expected}"}]
        return [
            {"path": list(issue.path), "message": issue.message[:1].upper() + issue.message[1:]}
            for issue in validate(sources.runway_schema(endpoint, model), body)
        ]

    def _task(self, request: Request, task_id: str) -> FakeJob | Response:
        """The task a GET or DELETE names, or Runway's answer: the key refused, or no such task."""
        if refused := self._refused(request):
            return refused
        job = self.jobs.get(task_id)
        if job is None or job.extra.get("deleted"):
            return Response.json({"error": "Task not found"}, 404)
        return job

    def _retrieve(self, request: Request, task_id: str) -> Response:
        job = self._task(request, task_id)
        if isinstance(job, Response):
            return job
        self.answer_poll(job)
        return Response.json(self.task_view(job))

    def _output(self, task_id: str) -> Response:
        """A finished task's video; gone with the task once it is deleted."""
        job = self.jobs.get(task_id)
        if job is None or job.extra.get("deleted") or job.outcome != "success" or not job.finished:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        return Response(200, tiny_video(), {"Content-Type": "video/mp4"})

    def task_view(self, job: FakeJob) -> dict[str, Any]:
        view: dict[str, Any] = {"id": job.id, "createdAt": job.extra.get("createdAt", _now())}
        if job.cancelled:
            return view | {"status": "CANCELLED", "cost": {"credits": 0}}
        if not job.finished:
            estimated = {"estimatedCost": {"credits": 25}}
            if job.polls_answered <= 1:
                return view | estimated | {"status": "PENDING"}
            return (
                view
                | estimated
                | {"status": "RUNNING", "progress": job.polls_answered / (job.polls_to_finish + 1)}
            )
        if job.outcome == "success":
            output = [f"{self.url}/files/{job.id}.mp4"]
            return view | {"status": "SUCCEEDED", "output": output, "cost": {"credits": 25}}
        code = self.script.failure_code or _FAILURES[job.outcome]
        return view | {
            "status": "FAILED",
            "failure": f"The task failed ({code})",
            "failureCode": code,
            "cost": {"credits": 0},
        }

    def _delete(self, request: Request, task_id: str) -> Response:
        job = self._task(request, task_id)
        if isinstance(job, Response):
            return job
        with self.lock:
            self.cancels[task_id] += 1
            # Runway's DELETE cancels a task still pending, throttled or running, and deletes a finished
            # one together with its output.
            if job.finished:
                job.extra["deleted"] = True
            else:
                job.cancelled = True
        return Response(204)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")

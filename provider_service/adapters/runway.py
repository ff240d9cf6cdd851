"""Runway: image_to_video / text_to_video, tasks GET and DELETE, `X-Runway-Version` on every call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from provider_service.adapters.base import Adapter, Submission, bad_job_id, unknown_status, unsupported
from provider_service.calls import MalformedResponse, ProviderHttp, rejection, success_object
from provider_service.domain import CancelResult, GenerationRequest, State, Status, content_violation, failed

_TASK_ID = re.compile(r"^[\w-]{1,100}$")
# States in which DELETE cancels the task (in any other it deletes the task and its output).
_UNFINISHED = frozenset({"PENDING", "THROTTLED", "RUNNING"})


def map_failure(code: str, message: str) -> Status:
    """A FAILED task by its failureCode (prefix match: Runway adds detail after the documented stems)."""
    reason = message or code or "Runway task failed"
    if code.startswith(("SAFETY.", "INPUT_PREPROCESSING.SAFETY")):
        return content_violation(tuple(r for r in (code, message) if r), reason, code=code)
    if code.startswith("INTERNAL.BAD_OUTPUT"):
        return failed(code, reason, retryable=False)
    if code in ("INTERNAL", "INPUT_PREPROCESSING.INTERNAL") or code.startswith("INTERNAL."):
        return failed(code, reason, retryable=True)
    if code.startswith("ASSET.INVALID"):
        return failed(code, reason, retryable=False)
    # A code we do not know: report it, but do not spend another paid attempt on a failure we cannot read.
    return failed(code or "RUNWAY_FAILED", reason, retryable=False)


def map_task(task: Mapping[str, Any]) -> Status:
    status = task.get("status")
    if status in ("PENDING", "THROTTLED"):  # THROTTLED: over our concurrency, queued rather than refused
        return Status(State.QUEUED)
    if status == "RUNNING":
        return Status(State.RUNNING, progress=float(task.get("progress") or 0.0))
    if status == "SUCCEEDED":
        outputs = tuple(str(url) for url in task.get("output") or ())
        if not outputs:
            return failed("RUNWAY_NO_OUTPUT", "Runway succeeded without an output URL", retryable=True)
        return Status(State.SUCCEEDED, output_uris=outputs, progress=1.0)
    if status == "FAILED":
        return map_failure(str(task.get("failureCode") or ""), str(task.get("failure") or ""))
    if status == "CANCELLED":
        return Status(State.CANCELLED)
    return unknown_status("runway", status)


class RunwayAdapter(Adapter):
    name = "runway"

    def __init__(
        self,
        http: ProviderHttp,
        *,
        secret: str,
        base_url: str,
        version: str,
        image_model: str,
        text_model: str,
    ) -> None:
        super().__init__(http, text_model=text_model, image_model=image_model)
        self._headers = {"Authorization": f"Bearer {secret}", "X-Runway-Version": version}
        self.base_url = base_url.rstrip("/")

    async def submit(self, request: GenerationRequest) -> Submission:
        mapped = self.plan(request)
        body: dict[str, Any] = dict(mapped.parameters)  # model, ratio, duration (and audio)
        if request.prompt:
            body[mapped.mode.prompt_field] = request.prompt
        if request.image_uri:
            if not request.image_uri.startswith(("https://", "data:")):
                raise unsupported(self.name, "spec.image_uri", "must be https:// or a data URI for Runway")
            assert mapped.mode.image_field is not None  # image_to_video modes always have one
            body[mapped.mode.image_field] = request.image_uri
        endpoint = mapped.mode.endpoint

        def task_id(response: httpx.Response) -> str:
            value = success_object(self.name, response, _error_text).get("id")
            if not isinstance(value, str) or not _TASK_ID.match(value):
                raise MalformedResponse("Runway answered without a task id")
            return value

        job_id = await self.http.submit(
            "POST", f"{self.base_url}/v1/{endpoint}", task_id, json=body, headers=self._headers
        )
        return Submission(job_id, mapped.effective)

    async def status(self, job_id: str) -> Status:
        if not _TASK_ID.match(job_id):
            raise bad_job_id(job_id, self.name)

        def mapped(response: httpx.Response) -> Status:
            return map_task(success_object(self.name, response, _error_text))

        return await self.http.call(
            "GET", f"{self.base_url}/v1/tasks/{job_id}", mapped, headers=self._headers
        )

    async def cancel(self, job_id: str) -> CancelResult:
        """DELETE cancels a task that is still pending, throttled or running, but deletes a finished one
        together with its output, so the task is read first and only an unfinished one is deleted. (A task
        finishing between the two calls is deleted anyway; Runway offers no conditional delete.)"""
        if not _TASK_ID.match(job_id):
            raise bad_job_id(job_id, self.name)
        url = f"{self.base_url}/v1/tasks/{job_id}"

        def task_status(response: httpx.Response) -> str | None:
            if response.status_code == 404:
                return None
            return str(success_object(self.name, response, _error_text).get("status"))

        status = await self.http.call("GET", url, task_status, headers=self._headers)
        if status is None:
            return CancelResult(cancelled=False, detail="no such task (already deleted)")
        if status not in _UNFINISHED:
            return CancelResult(cancelled=False, detail=f"already finished ({status[:50]}); not deleted")

        def outcome(response: httpx.Response) -> CancelResult:
            if response.status_code == 404:
                return CancelResult(cancelled=False, detail="no such task (already deleted)")
            if response.is_error:
                raise rejection(self.name, response, _error_text(response))
            return CancelResult(cancelled=True, detail=f"cancelled while {status}")

        return await self.http.call("DELETE", url, outcome, headers=self._headers)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, dict):
        return str(body)[:200]
    issues = "; ".join(
        f"{'.'.join(str(p) for p in issue.get('path', []))}: {issue.get('message', '')}"
        for issue in body.get("issues") or ()
        if isinstance(issue, dict)
    )
    return f"{body.get('error', '')} {issues}".strip()

"""The local sim provider (provider_service/sim): a small HTTP API of our own, spoken like the real ones.

POST   /v1/generations        {prompt, image_uri, duration_seconds, aspect_ratio, idempotency_key} -> {id}
GET    /v1/generations/{id}   {id, status, progress, output_url, error{code,message,retryable},
                               violation_reasons}
DELETE /v1/generations/{id}   {status}; 409 when already finished
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from provider_service.adapters.base import Adapter, Submission, bad_job_id
from provider_service.calls import MalformedResponse, ProviderHttp, json_object, rejection, success_object
from provider_service.domain import CancelResult, GenerationRequest, State, Status, content_violation, failed

_JOB_ID = re.compile(r"^[\w-]{1,64}$")
_STATES = {
    "queued": State.QUEUED,
    "running": State.RUNNING,
    "succeeded": State.SUCCEEDED,
    "cancelled": State.CANCELLED,
}


def map_generation(body: Mapping[str, Any]) -> Status:
    status = body.get("status")
    progress = float(body.get("progress") or 0.0)
    if status == "succeeded":
        if not body.get("output_url"):
            raise MalformedResponse("sim succeeded without an output_url")
        return Status(State.SUCCEEDED, output_uris=(str(body["output_url"]),), progress=1.0)
    if status in _STATES:
        return Status(_STATES[str(status)], progress=progress)
    raw_error = body.get("error")
    error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
    message = str(error.get("message") or status)
    if status == "content_violation":
        reasons = tuple(str(r) for r in body.get("violation_reasons") or ()) or (message,)
        return content_violation(reasons, message)
    if status == "failed":
        return failed(str(error.get("code") or "SIM_FAILED"), message, retryable=bool(error.get("retryable")))
    raise MalformedResponse(f"sim answered an unknown status {str(status)[:50]!r}")


class SimAdapter(Adapter):
    name = "sim"

    def __init__(self, http: ProviderHttp, *, base_url: str) -> None:
        super().__init__(http, text_model="sim", image_model="sim")
        self.base_url = base_url.rstrip("/")

    async def submit(self, request: GenerationRequest) -> Submission:
        mapped = self.plan(request)
        body = {
            "prompt": request.prompt,
            "image_uri": request.image_uri,
            **mapped.parameters,  # duration_seconds, aspect_ratio
            "idempotency_key": request.idempotency_key,
        }

        def job_id(response: httpx.Response) -> str:
            value = success_object(self.name, response).get("id")
            if not isinstance(value, str) or not _JOB_ID.match(value):
                raise MalformedResponse("sim answered without an id")
            return value

        provider_job_id = await self.http.submit("POST", f"{self.base_url}/v1/generations", job_id, json=body)
        return Submission(provider_job_id, mapped.effective)

    async def status(self, job_id: str) -> Status:
        if not _JOB_ID.match(job_id):
            raise bad_job_id(job_id, self.name)

        def mapped(response: httpx.Response) -> Status:
            return map_generation(success_object(self.name, response))

        return await self.http.call("GET", f"{self.base_url}/v1/generations/{job_id}", mapped)

    async def cancel(self, job_id: str) -> CancelResult:
        if not _JOB_ID.match(job_id):
            raise bad_job_id(job_id, self.name)

        def outcome(response: httpx.Response) -> CancelResult:
            if response.status_code == 409:
                return CancelResult(
                    cancelled=False, detail=str(json_object(response).get("status", "finished"))
                )
            if response.is_error:
                raise rejection(self.name, response, response.text[:200])
            return CancelResult(cancelled=True, detail="cancelled")

        return await self.http.call("DELETE", f"{self.base_url}/v1/generations/{job_id}", outcome)

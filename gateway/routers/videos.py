"""/v1/videos: create, read, list, cancel, retry, delete, and watch (SSE)."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from gateway import sse
from gateway.convert import job_json, spec_from_body
from gateway.creating import create_job
from gateway.deps import UserCallDep
from gateway.idempotency import choose_key
from gateway.problems import from_rpc_error
from gateway.schemas import CreatedJobOut, CreateVideo, JobListOut, JobOut, ProblemOut
from videojobs.contract import JobState
from videojobs.v1 import job_service_pb2

router = APIRouter(prefix="/v1/videos", tags=["videos"])

JobId = Annotated[str, Path(max_length=64, description="the job id (UUID)")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=202, description='a UUID per user action; "quoted" or bare'),
]


def error_responses(model: type[BaseModel]) -> dict[int | str, dict[str, object]]:
    """The OpenAPI `responses` of a route's errors, each described by `model`."""
    return {
        code: {"model": model, "description": text}
        for code, text in {
            400: "invalid input (field errors)",
            401: "missing or bad credentials",
            404: "no such job (or another user's)",
            422: "malformed request, or Idempotency-Key reused with another body",
            429: "quota or rate limit; see Retry-After",
        }.items()
    }


ERRORS = error_responses(ProblemOut)


@router.post(
    "",
    status_code=201,
    response_model=CreatedJobOut,
    responses={
        200: {"model": CreatedJobOut, "description": "replay of an earlier request, or a duplicate of a job"},
        **ERRORS,
    },
    summary="Create a video job (idempotent with Idempotency-Key; without one, duplicates are returned)",
)
async def create_video(
    body: CreateVideo, call: UserCallDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    key = choose_key(idempotency_key, body.client_request_id)
    return await create_job(
        call, key, spec_from_body(body), allow_duplicate=body.allow_duplicate, webhook_url=body.webhook_url
    )


@router.get("", response_model=JobListOut, responses=ERRORS, summary="The caller's jobs, newest first")
async def list_videos(
    call: UserCallDep,
    page_size: Annotated[int, Query(ge=0, le=1000, description="default 20, max 100")] = 0,
    page_token: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[list[JobState] | None, Query(description="only these states")] = None,
) -> JSONResponse:
    request = job_service_pb2.ListJobsRequest(
        page_size=page_size,
        page_token=page_token,
        states=[job_service_pb2.JobState.Value(name) for name in state or ()],
    )
    reply = await call.jobs.ListJobs(request, **call.options)
    return JSONResponse(
        {"jobs": [job_json(job) for job in reply.jobs], "next_page_token": reply.next_page_token}
    )


@router.get("/{job_id}", response_model=JobOut, responses=ERRORS, summary="One job, with fresh video URLs")
async def get_video(job_id: JobId, call: UserCallDep) -> JSONResponse:
    return JSONResponse(
        job_json(await call.jobs.GetJob(job_service_pb2.GetJobRequest(id=job_id), **call.options))
    )


@router.post("/{job_id}/cancel", response_model=JobOut, responses=ERRORS, summary="Cancel a running job")
async def cancel_video(job_id: JobId, call: UserCallDep) -> JSONResponse:
    job = await call.jobs.CancelJob(job_service_pb2.CancelJobRequest(id=job_id), **call.options)
    return JSONResponse(job_json(job))


@router.post("/{job_id}/retry", response_model=JobOut, responses=ERRORS, summary="Retry a failed job")
async def retry_video(job_id: JobId, call: UserCallDep) -> JSONResponse:
    job = await call.jobs.RetryJob(job_service_pb2.RetryJobRequest(id=job_id), **call.options)
    return JSONResponse(job_json(job))


@router.delete("/{job_id}", responses=ERRORS, summary="Delete the stored video and hide the job")
async def delete_video(job_id: JobId, call: UserCallDep) -> JSONResponse:
    reply = await call.jobs.DeleteJob(job_service_pb2.DeleteJobRequest(id=job_id), **call.options)
    return JSONResponse({"id": reply.id, "deleted_uris": list(reply.deleted_uris)})


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **ERRORS},
    response_class=StreamingResponse,
    summary="Watch a job: one SSE event per transition until a terminal state",
)
async def watch_video(
    job_id: JobId,
    call: UserCallDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    settings = call.state.settings
    after = sse.parse_last_event_id(last_event_id)
    request = job_service_pb2.WatchJobRequest(id=job_id, after_sequence=after)
    # The stream has no deadline (it lasts as long as the job). A fresh watch starts with the current state;
    # a resumed one may have nothing new, so it only waits briefly for an immediate error (e.g. NOT_FOUND).
    watch = sse.Watch(call.jobs.WatchJob(request, metadata=call.options["metadata"]))
    try:
        await watch.start(within=settings.rpc_timeout_seconds if after == 0 else 1.0)
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error) from None
    return StreamingResponse(
        watch.body(settings.sse_heartbeat_seconds),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )

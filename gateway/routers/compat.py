"""Routes existing clients already call (the apps of seeds 000 and 004), on the same RPCs as /v1/videos and
answering in the shapes those apps read, so they work unchanged.

They share one idempotency key space and one duplicate check with /v1/videos per user: a double click that
reaches `/generate` and `/api/v1/generate` at once, or `/api/video/animate` and `/v1/videos`, still makes one
job. Every answer carries `Deprecation` and a `Link` to the v1 route (legacy_routes.py).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway import creating
from gateway.convert import animate_field, generate_json, spec_from_animate, spec_from_body, video_job_row
from gateway.deps import UserCallDep
from gateway.idempotency import choose_key
from gateway.legacy_routes import GenerateRoute, VideoJobRoute
from gateway.routers.videos import IdempotencyKey, JobId, error_responses
from gateway.schemas import (
    AnimateImage,
    GenerateErrorOut,
    GenerateOut,
    LegacyGenerate,
    VideoJobErrorOut,
    VideoJobOut,
)
from videojobs.v1 import job_service_pb2

generate_router = APIRouter(tags=["compatibility"], route_class=GenerateRoute, deprecated=True)
video_jobs_router = APIRouter(tags=["compatibility"], route_class=VideoJobRoute, deprecated=True)

_GENERATE_RESPONSES = {
    200: {"model": GenerateOut, "description": "an existing job"},
    **error_responses(GenerateErrorOut),
}


@generate_router.post("/generate", status_code=201, response_model=GenerateOut, responses=_GENERATE_RESPONSES)
@generate_router.post(
    "/api/v1/generate", status_code=201, response_model=GenerateOut, responses=_GENERATE_RESPONSES
)
async def generate(
    body: LegacyGenerate, call: UserCallDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Create a video (seed 000's routes): 201 when started, 200 with the existing job when it repeats one;
    `{"success": false, "error"}` on errors. Fields those clients send that we do not use are ignored."""
    reply = await creating.create(
        call,
        choose_key(idempotency_key, body.client_request_id),
        spec_from_body(body),
        allow_duplicate=body.allow_duplicate,
    )
    return JSONResponse(
        generate_json(reply), status_code=creating.status_code(reply), headers=creating.created_headers(reply)
    )


@video_jobs_router.post(
    "/api/video/animate",
    status_code=201,
    response_model=VideoJobOut,
    responses={
        200: {"model": VideoJobOut, "description": "an existing job"},
        **error_responses(VideoJobErrorOut),
    },
)
async def animate(
    body: AnimateImage, call: UserCallDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Animate an image (seed 004: `imageUrl`, `prompt`, `clientRequestId`, camelCase): the job as a
    `video_jobs` row; 201 new, 200 an existing job; `{"error"}` on errors."""
    reply = await creating.create(
        call,
        choose_key(idempotency_key, body.clientRequestId),
        spec_from_animate(body),
        allow_duplicate=body.allowDuplicate,
        field_name=animate_field,
    )
    return JSONResponse(
        video_job_row(reply.job),
        status_code=creating.status_code(reply),
        headers=creating.created_headers(reply),
    )


@video_jobs_router.get(
    "/api/video/jobs/{job_id}", response_model=VideoJobOut, responses=error_responses(VideoJobErrorOut)
)
async def video_job(job_id: JobId, call: UserCallDep) -> JSONResponse:
    """One job as a `video_jobs` row, with fresh URLs (polling clients keep working as they move to SSE)."""
    job = await call.jobs.GetJob(job_service_pb2.GetJobRequest(id=job_id), **call.options)
    return JSONResponse(video_job_row(job))


router = APIRouter()
router.include_router(generate_router)
router.include_router(video_jobs_router)

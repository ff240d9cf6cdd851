"""Routes existing clients already call (the apps of seeds 000 and 004), on the same RPCs as /v1/videos.

They share one idempotency key space with /v1/videos per user: a double click that reaches `/generate` and
`/api/v1/generate` at once, or `/api/video/animate` and `/v1/videos`, still makes one job.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.convert import animate_field, spec_from_animate, spec_from_body
from gateway.creating import create_job
from gateway.deps import UserCallDep
from gateway.idempotency import choose_key
from gateway.routers.videos import ERRORS, IdempotencyKey, get_video
from gateway.schemas import AnimateImage, JobOut, LegacyGenerate

router = APIRouter(tags=["compatibility"])

_CREATED = {200: {"model": JobOut, "description": "replay of an earlier request"}, **ERRORS}


@router.post("/generate", status_code=201, response_model=JobOut, responses=_CREATED)
@router.post("/api/v1/generate", status_code=201, response_model=JobOut, responses=_CREATED)
async def generate(
    body: LegacyGenerate, call: UserCallDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Same as POST /v1/videos; fields existing clients send that we do not use are ignored."""
    return await create_job(call, choose_key(idempotency_key, body.client_request_id), spec_from_body(body))


@router.post("/api/video/animate", status_code=201, response_model=JobOut, responses=_CREATED)
async def animate(
    body: AnimateImage,
    call: UserCallDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Animate an image (`imageUrl`, `prompt`, `clientRequestId`, camelCase)."""
    key = choose_key(idempotency_key, body.clientRequestId)
    return await create_job(call, key, spec_from_animate(body), animate_field)


# Polling clients keep working while they move to SSE.
router.add_api_route(
    "/api/video/jobs/{job_id}",
    get_video,
    response_model=JobOut,
    responses=ERRORS,
    summary="Same as GET /v1/videos/{id}",
)

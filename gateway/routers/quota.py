"""/v1/quota and the admin quota reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from gateway.convert import quota_json
from gateway.deps import AdminCallDep, UserCallDep
from gateway.routers.videos import ERRORS
from gateway.schemas import QuotaOut
from videojobs.v1 import job_service_pb2

router = APIRouter(tags=["quota"])


@router.get("/v1/quota", response_model=QuotaOut, responses=ERRORS, summary="The caller's daily quota")
async def get_quota(call: UserCallDep) -> JSONResponse:
    return JSONResponse(
        quota_json(await call.jobs.GetQuota(job_service_pb2.GetQuotaRequest(), **call.options))
    )


@router.post(
    "/v1/admin/users/{user_id}/quota/reset",
    response_model=QuotaOut,
    responses={403: {"model": ERRORS[401]["model"], "description": "needs an admin API key"}, **ERRORS},
    summary="Reset a user's usage for today (admin)",
)
async def reset_quota(
    user_id: Annotated[str, Path(min_length=1, max_length=200)], call: AdminCallDep
) -> JSONResponse:
    quota = await call.jobs.ResetQuota(job_service_pb2.ResetQuotaRequest(user_id=user_id), **call.options)
    return JSONResponse(quota_json(quota))

"""Operations: liveness, readiness (the gRPC backends are SERVING), Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.deps import StateDep
from videojobs import health
from videojobs.v1 import job_service_pb2, provider_service_pb2

router = APIRouter(tags=["operations"])

JOB_SERVICE = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
PROVIDER_SERVICE = provider_service_pb2.DESCRIPTOR.services_by_name["ProviderService"].full_name


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The backends this gateway calls are SERVING")
async def readyz(state: StateDep) -> JSONResponse:
    timeout = min(2.0, state.settings.rpc_timeout_seconds)
    checks = {"job_service": health.check(state.job_channel, JOB_SERVICE, timeout)}
    if state.settings.ready_requires_provider:
        checks["provider_service"] = health.check(state.provider_channel, PROVIDER_SERVICE, timeout)
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    ready = all(results.values())
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "backends": {name: "serving" if ok else "unavailable" for name, ok in results.items()},
        },
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

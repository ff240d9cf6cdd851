"""CreateJob over HTTP, shared by /v1/videos and the compatibility routes so they share one key space."""

from __future__ import annotations

import grpc
from fastapi.responses import JSONResponse

from gateway.convert import job_json
from gateway.deps import UserCall
from gateway.problems import FieldNames, from_rpc_error, spec_field
from videojobs.v1 import common_pb2, job_service_pb2

REPLAYED_HEADER = "idempotent-replayed"


async def create_job(
    call: UserCall,
    key: str,
    spec: common_pb2.VideoSpec,
    field_name: FieldNames = spec_field,
) -> JSONResponse:
    """201 with the new job, or 200 with the same body when the key was used before with the same spec."""
    try:
        reply = await call.jobs.CreateJob(
            job_service_pb2.CreateJobRequest(client_request_id=key, spec=spec), **call.options
        )
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error, field_name) from None
    call.state.metrics.jobs.labels("created" if reply.created else "replayed").inc()
    return JSONResponse(
        job_json(reply.job),
        status_code=201 if reply.created else 200,
        headers={"location": f"/v1/videos/{reply.job.id}", REPLAYED_HEADER: str(not reply.created).lower()},
    )

"""CreateJob over HTTP, shared by /v1/videos and the compatibility routes so they share one key space and one
duplicate check. Each route shapes the answer its own clients read."""

from __future__ import annotations

import grpc
from fastapi.responses import JSONResponse

from gateway.convert import created_json
from gateway.deps import UserCall
from gateway.problems import FieldNames, from_rpc_error, spec_field
from videojobs.v1 import common_pb2, job_service_pb2

REPLAYED_HEADER = "idempotent-replayed"

_OUTCOMES = {
    job_service_pb2.CreateJobResponse.REASON_UNSPECIFIED: "created",
    job_service_pb2.CreateJobResponse.IDEMPOTENT_REPLAY: "replayed",
    job_service_pb2.CreateJobResponse.DUPLICATE_REQUEST: "duplicate",
}


async def create(
    call: UserCall,
    key: str,
    spec: common_pb2.VideoSpec,
    *,
    allow_duplicate: bool = False,
    field_name: FieldNames = spec_field,
    webhook_url: str = "",
) -> job_service_pb2.CreateJobResponse:
    """CreateJob for the authenticated user; errors become Problems (field names as the route's clients
    sent them)."""
    request = job_service_pb2.CreateJobRequest(
        client_request_id=key, spec=spec, allow_duplicate=allow_duplicate, webhook_url=webhook_url
    )
    try:
        reply = await call.jobs.CreateJob(request, **call.options)
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error, field_name) from None
    call.state.metrics.jobs.labels(
        "created" if reply.created else _OUTCOMES.get(reply.reason, "replayed")
    ).inc()
    return reply


def created_headers(reply: job_service_pb2.CreateJobResponse) -> dict[str, str]:
    """`Location` of the job, and `Idempotent-Replayed: true` when an existing job was returned."""
    return {"location": f"/v1/videos/{reply.job.id}", REPLAYED_HEADER: str(not reply.created).lower()}


def status_code(reply: job_service_pb2.CreateJobResponse) -> int:
    return 201 if reply.created else 200


async def create_job(
    call: UserCall,
    key: str,
    spec: common_pb2.VideoSpec,
    *,
    allow_duplicate: bool = False,
    webhook_url: str = "",
) -> JSONResponse:
    """POST /v1/videos: 201 with the new job; 200 with the same body for a replay of the same key; 200 with
    the existing job plus `duplicate_of` and `reason` for a keyless duplicate."""
    reply = await create(call, key, spec, allow_duplicate=allow_duplicate, webhook_url=webhook_url)
    return JSONResponse(created_json(reply), status_code=status_code(reply), headers=created_headers(reply))

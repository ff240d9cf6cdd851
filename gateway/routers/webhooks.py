"""POST /v1/webhooks/{provider}: provider callbacks, verified by provider_service, recorded by job_service.

No API key here: the provider's own signature (checked by ParseWebhook) is the credential. The body is
passed on byte for byte, since signatures cover the raw bytes. Replays are harmless: job_service records
provider news idempotently and the orchestrator applies each transition once.
"""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from gateway.deps import StateDep, client_address, rate_limited
from gateway.problems import Problem, from_rpc_error
from gateway.routers.videos import ERRORS
from videojobs.contract import Provider
from videojobs.v1 import job_service_pb2, provider_service_pb2

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/{provider}", responses=ERRORS, summary="Provider callback (signature-verified)")
async def provider_webhook(
    provider: Annotated[Provider, Path(description="the provider that calls back")],
    request: Request,
    state: StateDep,
) -> JSONResponse:
    # Before the body is read or anything is called: unsigned floods from one address stop here.
    wait = state.webhooks.acquire(client_address(request))
    if wait is not None:
        detail = "too many webhook deliveries from this address"
        raise rate_limited(state, wait, detail, reason="WEBHOOK_RATE_LIMITED")
    body = await request.body()
    # Starlette already lower-cases names; repeated headers are joined as HTTP allows.
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    try:
        parsed = await state.providers.ParseWebhook(
            # The URL carries what the provider does not sign into its body (fal: `?app=` names the model).
            provider_service_pb2.ParseWebhookRequest(
                provider=provider, headers=headers, body=body, url=str(request.url)
            ),
            **state.call_options(),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise Problem(
                401, "the webhook signature is missing or invalid", reason="BAD_SIGNATURE"
            ) from None
        raise from_rpc_error(error) from None
    await state.jobs.ReportProviderEvent(
        job_service_pb2.ReportProviderEventRequest(
            provider=provider, provider_job_id=parsed.provider_job_id, status=parsed.status
        ),
        **state.call_options(),
    )
    return JSONResponse({"received": True, "provider_job_id": parsed.provider_job_id})

"""/v1/webhooks: the caller's outbound webhook endpoints (create, list, get, update, delete, rotate the
secret), their deliveries and redelivery; /v1/videos/{id}/webhooks: a job's deliveries. job_service sends.

The provider callbacks (POST /v1/webhooks/{provider}, routers/webhooks.py) share the prefix: they are the
only POST one segment below it, and a provider name is never an endpoint id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from gateway.convert import webhook_delivery_json, webhook_endpoint_json, webhook_secret_json
from gateway.deps import UserCall, UserCallDep
from gateway.routers.videos import ERRORS, JobId
from gateway.schemas import (
    CreateWebhookEndpoint,
    UpdateWebhookEndpoint,
    WebhookDeliveryListOut,
    WebhookDeliveryOut,
    WebhookEndpointListOut,
    WebhookEndpointOut,
    WebhookEndpointWithSecretOut,
    WebhookSigningSecretOut,
)
from videojobs.v1 import job_service_pb2

router = APIRouter(tags=["outbound webhooks"])

EndpointId = Annotated[str, Path(max_length=64, description="the endpoint id (UUID)")]
DeliveryId = Annotated[str, Path(max_length=64, description="the delivery id (UUID)")]
PageSize = Annotated[int, Query(ge=0, le=100, description="default 20, max 100")]


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookEndpointWithSecretOut,
    responses=ERRORS,
    summary="Register a webhook endpoint; its signing secret is shown in this answer only",
)
async def create_endpoint(body: CreateWebhookEndpoint, call: UserCallDep) -> JSONResponse:
    request = job_service_pb2.CreateWebhookEndpointRequest(
        url=body.url, event_types=body.event_types, description=body.description
    )
    reply = await call.jobs.CreateWebhookEndpoint(request, **call.options)
    return JSONResponse(webhook_secret_json(reply), status_code=201)


@router.get("/v1/webhooks", response_model=WebhookEndpointListOut, responses=ERRORS, summary="Your endpoints")
async def list_endpoints(call: UserCallDep) -> JSONResponse:
    reply = await call.jobs.ListWebhookEndpoints(
        job_service_pb2.ListWebhookEndpointsRequest(), **call.options
    )
    return JSONResponse({"endpoints": [webhook_endpoint_json(endpoint) for endpoint in reply.endpoints]})


@router.get(
    "/v1/webhooks/{endpoint_id}", response_model=WebhookEndpointOut, responses=ERRORS, summary="An endpoint"
)
async def get_endpoint(endpoint_id: EndpointId, call: UserCallDep) -> JSONResponse:
    request = job_service_pb2.GetWebhookEndpointRequest(id=endpoint_id)
    return JSONResponse(webhook_endpoint_json(await call.jobs.GetWebhookEndpoint(request, **call.options)))


@router.patch(
    "/v1/webhooks/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=ERRORS,
    summary="Change an endpoint's URL, events or description, or enable/disable it",
)
async def update_endpoint(
    endpoint_id: EndpointId, body: UpdateWebhookEndpoint, call: UserCallDep
) -> JSONResponse:
    request = job_service_pb2.UpdateWebhookEndpointRequest(id=endpoint_id)
    if body.url is not None:
        request.url = body.url
    if body.event_types is not None:
        request.event_types.values.extend(body.event_types)
    if body.description is not None:
        request.description = body.description
    if body.enabled is not None:
        request.enabled = body.enabled
    return JSONResponse(webhook_endpoint_json(await call.jobs.UpdateWebhookEndpoint(request, **call.options)))


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, responses=ERRORS, summary="Delete an endpoint")
async def delete_endpoint(endpoint_id: EndpointId, call: UserCallDep) -> Response:
    await call.jobs.DeleteWebhookEndpoint(
        job_service_pb2.DeleteWebhookEndpointRequest(id=endpoint_id), **call.options
    )
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointWithSecretOut,
    responses=ERRORS,
    summary="A new signing secret (shown once); the old one also signs until previous_secret_expire_time",
)
async def rotate_secret(endpoint_id: EndpointId, call: UserCallDep) -> JSONResponse:
    request = job_service_pb2.RotateWebhookSecretRequest(id=endpoint_id)
    return JSONResponse(webhook_secret_json(await call.jobs.RotateWebhookSecret(request, **call.options)))


@router.get(
    "/v1/webhooks/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryListOut,
    responses=ERRORS,
    summary="Deliveries to an endpoint, newest event first, with every attempt",
)
async def endpoint_deliveries(
    endpoint_id: EndpointId, call: UserCallDep, page_size: PageSize = 0
) -> JSONResponse:
    request = job_service_pb2.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id, page_size=page_size)
    return await _deliveries(request, call)


@router.get(
    "/v1/videos/{job_id}/webhooks",
    response_model=WebhookDeliveryListOut,
    responses=ERRORS,
    summary="A job's webhook deliveries, newest event first, with every attempt",
)
async def job_deliveries(job_id: JobId, call: UserCallDep, page_size: PageSize = 0) -> JSONResponse:
    request = job_service_pb2.ListWebhookDeliveriesRequest(job_id=job_id, page_size=page_size)
    return await _deliveries(request, call)


async def _deliveries(request: job_service_pb2.ListWebhookDeliveriesRequest, call: UserCall) -> JSONResponse:
    reply = await call.jobs.ListWebhookDeliveries(request, **call.options)
    return JSONResponse({"deliveries": [webhook_delivery_json(delivery) for delivery in reply.deliveries]})


@router.get(
    "/v1/webhook-secret",
    response_model=WebhookSigningSecretOut,
    responses=ERRORS,
    summary="Your signing secret (made on first use), for the webhook_url of your creates",
)
async def signing_secret(call: UserCallDep) -> JSONResponse:
    request = job_service_pb2.GetWebhookSigningSecretRequest()
    reply = await call.jobs.GetWebhookSigningSecret(request, **call.options)
    return JSONResponse({"secret": reply.secret})


@router.post(
    "/v1/webhook-deliveries/{delivery_id}/redeliver",
    response_model=WebhookDeliveryOut,
    responses=ERRORS,
    summary="Send a delivery again now, with the same webhook-id",
)
async def redeliver(delivery_id: DeliveryId, call: UserCallDep) -> JSONResponse:
    request = job_service_pb2.RedeliverWebhookRequest(id=delivery_id)
    return JSONResponse(webhook_delivery_json(await call.jobs.RedeliverWebhook(request, **call.options)))

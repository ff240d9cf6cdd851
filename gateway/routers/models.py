"""/v1/models: the model catalog (ProviderService.ListModels), for clients that build their forms from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from gateway.convert import models_json
from gateway.deps import UserCallDep
from gateway.routers.videos import ERRORS
from gateway.schemas import ModelsOut
from videojobs.contract import Provider
from videojobs.v1 import provider_service_pb2

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    response_model=ModelsOut,
    responses=ERRORS,
    summary="Every model on offer, what it allows, and each provider's defaults",
)
async def list_models(
    call: UserCallDep,
    provider: Annotated[Provider | None, Query(description="only this provider's models")] = None,
) -> JSONResponse:
    # The catalog is the same for every user: no user metadata on the call.
    reply = await call.state.providers.ListModels(
        provider_service_pb2.ListModelsRequest(provider=provider or ""), **call.state.call_options()
    )
    return JSONResponse(models_json(reply))

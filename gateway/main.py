"""The gateway's ASGI app: `create_app(settings)`. Every API route is a gRPC call; the app stores no data
(what its requests share, channels and caches, is in state.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import exception_handlers
from gateway.metrics import Metrics
from gateway.middleware import GatewayMiddleware
from gateway.routers import compat, dashboard, models, ops, quota, videos, webhook_endpoints, webhooks
from gateway.settings import GatewaySettings
from gateway.state import open_state


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = open_state(settings, metrics)
        app.state.gateway = state
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="videojobs",
        version="1",
        summary="Idempotent, quota-safe AI video generation jobs",
        description="Errors are RFC 9457 application/problem+json. Authenticate with `Authorization: Bearer`",
        lifespan=lifespan,
        # Metrics are Prometheus (gateway.metrics); FastAPI's native OpenTelemetry would otherwise look up
        # the global providers on every request to find out it has none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    exception_handlers.install(app)
    for module in (videos, models, quota, webhooks, webhook_endpoints, compat, ops):
        app.include_router(module.router)
    app.include_router(dashboard.router_for(settings))
    app.add_middleware(GatewayMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn workers call (`gateway.main:app_from_environment`, factory=True)."""
    from videojobs.logs import configure_logging

    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)

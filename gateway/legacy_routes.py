"""How the compatibility routes answer besides their bodies: errors in the shape each existing client reads
(seed 000's `{"success": false, "error"}`, seed 004's `{"error"}`) instead of problem+json, and on every
answer the headers that point the client at the v1 route (RFC 9745 `Deprecation`, RFC 8288 `Link`).

Each is an APIRoute subclass: FastAPI raises body and dependency errors (auth, rate limit) inside the route's
handler, so catching there covers every error the route can give, with the app-wide Problem mapping reused.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.exception_handlers import as_problem
from gateway.problems import Problem
from videojobs import context

# When these routes were deprecated (RFC 9745: a Structured Field date, seconds since the epoch): 2026-11-29.
DEPRECATED_SINCE = 1795910400
# Each compatibility route's v1 successor (a template filled with the request's path parameters).
SUCCESSORS: Mapping[str, str] = {
    "/generate": "/v1/videos",
    "/api/v1/generate": "/v1/videos",
    "/api/video/animate": "/v1/videos",
    "/api/video/jobs/{job_id}": "/v1/videos/{job_id}",
}
# Where a person reads about the move: the routes' section of the API reference.
DEPRECATION_INFO = "/docs#/compatibility"


def deprecation_headers(path: str, path_params: Mapping[str, Any]) -> dict[str, str]:
    # Percent-encoded: a header is Latin-1, and a path parameter may be any text the client sent.
    successor = SUCCESSORS[path].format(
        **{name: quote(str(value), safe="") for name, value in path_params.items()}
    )
    return {
        "deprecation": f"@{DEPRECATED_SINCE}",
        "link": f'<{successor}>; rel="successor-version", <{DEPRECATION_INFO}>; rel="deprecation"',
    }


def problem_fields(problem: Problem) -> dict[str, Any]:
    """What a legacy error body carries beyond its message: the machine reason, field errors, request id."""
    fields: dict[str, Any] = {}
    if problem.reason:
        fields["reason"] = problem.reason
    if problem.errors:
        fields["errors"] = problem.errors
    fields.update(problem.extra)
    fields["request_id"] = context.request_id.get()
    return fields


class LegacyRoute(APIRoute):
    """A compatibility route: errors in its clients' shape (`{**envelope, "error": ..., ...}`), deprecation
    headers on every answer."""

    envelope: ClassVar[Mapping[str, Any]] = {}

    def error_body(self, problem: Problem) -> dict[str, Any]:
        return {**self.envelope, "error": problem.detail, **problem_fields(problem)}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error of the route, in its clients' shape
                problem = as_problem(request, exc)
                response = JSONResponse(
                    self.error_body(problem), status_code=problem.status, headers=problem.response_headers()
                )
            response.headers.update(deprecation_headers(self.path_format, request.path_params))
            return response

        return route


class GenerateRoute(LegacyRoute):
    """Seed 000's routes (/generate, /api/v1/generate): `{"success": false, "error": ...}`."""

    envelope = {"success": False}


class VideoJobRoute(LegacyRoute):
    """Seed 004's routes (/api/video/...): `{"error": ...}`."""

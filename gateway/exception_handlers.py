"""The app's exception handlers: every error leaves as application/problem+json (RFC 9457), no stack trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gateway.middleware import body_too_large
from gateway.problems import PROBLEM_JSON, Problem, from_rpc_error
from videojobs import context
from videojobs.logs import get_logger

log = get_logger(__name__)


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path, context.request_id.get()),
        status_code=problem.status,
        headers=problem.response_headers(),
        media_type=PROBLEM_JSON,
    )


def _field(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "body"


def validation_problem(error: RequestValidationError) -> Problem:
    problems = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in problems):
        return Problem(400, "the request body is not valid JSON", reason="INVALID_JSON")
    errors = [{"field": _field(item.get("loc", ())), "detail": str(item.get("msg", ""))} for item in problems]
    summary = "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:5])
    return Problem(
        422,
        f"the request does not have the expected shape: {summary}",
        reason="INVALID_REQUEST",
        errors=errors,
    )


def http_problem(request: Request, exc: HTTPException) -> Problem:
    detail = exc.detail if isinstance(exc.detail, str) else "the request could not be handled"
    if exc.status_code == 400 and "parsing the body" in detail:
        detail = "the request body could not be read as JSON"
    if exc.status_code == 413:  # the body limit, as the middleware says it (chunked bodies)
        return body_too_large(request.app.state.gateway.settings.max_body_bytes)
    return Problem(exc.status_code, detail, headers=exc.headers)


def as_problem(request: Request, exc: Exception) -> Problem:
    """Any error a route can raise, as the Problem it is answered with."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError):
        return validation_problem(exc)
    if isinstance(exc, HTTPException):
        return http_problem(request, exc)
    if isinstance(exc, grpc.aio.AioRpcError):
        return from_rpc_error(exc)
    log.exception("unhandled error", path=request.url.path)
    return Problem(500, f"internal error (request id {context.request_id.get()})")


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, as_problem(request, exc))


def install(app: FastAPI) -> None:
    for kind in (Problem, RequestValidationError, HTTPException, grpc.aio.AioRpcError, Exception):
        app.add_exception_handler(kind, _on_error)

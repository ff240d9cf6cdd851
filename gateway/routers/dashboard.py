"""A small dashboard page: paste an API key, see your jobs and their live state (SSE)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

_PAGE = resources.files("gateway").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"content-security-policy": "default-src 'self' 'unsafe-inline'"})

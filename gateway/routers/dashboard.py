"""The dashboard: a static page (gateway/static/dashboard/) that talks to the public API from the browser.

The files are read once at start-up and served from memory with an ETag. The page's Content-Security-Policy
allows scripts, styles, API calls and its favicon from the gateway itself, and thumbnails and video only from
the storage origins the signed URLs point at (settings.dashboard_media_origins); nothing is inline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import RedirectResponse, Response

from gateway.problems import Problem
from gateway.settings import GatewaySettings

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=1024)]
# Revalidated on every load (a 304 when unchanged), so a new release is picked up at once.
_CACHING = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    folder = resources.files("gateway").joinpath("static/dashboard")
    assets = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            body = item.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[item.name] = Asset(body, _TYPES[suffix], etag)
    return assets


def content_security_policy(media_origins: Sequence[str]) -> str:
    media = " ".join(media_origins)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            # 'self' only for the page's favicon: browsers check the icon against img-src too.
            f"img-src 'self' {media}",
            f"media-src {media}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def router_for(settings: GatewaySettings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets = load_assets()
    page_headers = {
        "content-security-policy": content_security_policy(settings.dashboard_media_origins),
        # Signed URLs and job ids stay out of other sites' logs.
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
    }

    def serve(name: str, if_none_match: str | None) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise Problem(404, "no such file", reason="NOT_FOUND")
        headers = {"etag": asset.etag, "cache-control": _CACHING, "x-content-type-options": "nosniff"}
        if name == "index.html":
            headers |= page_headers
        if if_none_match is not None and asset.etag in (tag.strip() for tag in if_none_match.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @router.get("/dashboard")
    async def page(if_none_match: IfNoneMatch = None) -> Response:
        return serve("index.html", if_none_match)

    @router.get("/dashboard/{name}")
    async def asset(
        name: Annotated[str, Path(max_length=64)],
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        return serve(name, if_none_match)

    return router

"""The dashboard's files as HTTP serves them: every file the page loads, revalidation, and a CSP that lets
in images and video from exactly the storage origin(s) the settings name. (Its behaviour is tested in a
real browser in tests/dashboard/.)"""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from tests.support.gateway import StartStack

TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split("; ")}


async def test_every_file_the_page_loads_is_served_and_revalidates(start_stack: StartStack) -> None:
    stack = await start_stack()
    async with httpx.AsyncClient(base_url=stack.url) as client:
        root = await client.get("/")
        page = await client.get("/dashboard")
        referenced = re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', page.text)
        files: dict[str, httpx.Response] = {}
        waiting = list(referenced)
        while waiting:
            path = waiting.pop()
            if path not in files:
                files[path] = await client.get(path)
                # ES modules import each other relatively ("./api.js"); follow those too.
                waiting += [
                    f"/dashboard/{n}" for n in re.findall(r'from "\./([a-z-]+\.js)"', files[path].text)
                ]
        again = await client.get(
            "/dashboard/app.js", headers={"if-none-match": files["/dashboard/app.js"].headers["etag"]}
        )
        missing = await client.get("/dashboard/nope.js")

    assert root.status_code == 307
    assert root.headers["location"] == "/dashboard"
    assert page.status_code == 200
    assert {"/dashboard/app.js", "/dashboard/dashboard.css", "/dashboard/favicon.svg"} <= set(referenced)
    assert {"/dashboard/api.js", "/dashboard/live.js", "/dashboard/jobs.js", "/dashboard/form.js"} <= set(
        files
    )
    for path, answer in files.items():
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == TYPES[path[path.rindex(".") :]], path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["etag"]
    assert again.status_code == 304
    assert again.content == b""
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("settings", "origins"),
    [
        ({}, "https://storage.googleapis.com"),
        ({"storage_emulator_host": "127.0.0.1:4443"}, "http://127.0.0.1:4443"),
        (
            {"media_origins": ("https://cdn.example.com/", "https://storage.googleapis.com")},
            "https://cdn.example.com https://storage.googleapis.com",
        ),
    ],
)
async def test_the_page_csp_allows_media_from_exactly_the_storage_origins(
    start_stack: StartStack, settings: dict[str, object], origins: str
) -> None:
    stack = await start_stack(**settings)
    async with httpx.AsyncClient(base_url=stack.url) as client:
        page = await client.get("/dashboard")

    policy = directives(page.headers["content-security-policy"])
    assert policy["img-src"] == f"'self' {origins}"  # 'self' for the favicon
    assert policy["media-src"] == origins
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    "origin",
    [
        "ftp://cdn.example.com",
        "https://cdn.example.com/videos",
        "https://user:pw@cdn.example.com",
        "*",
        "https://*.example.com",
        "http://cdn.example.com:port",
        "https://cdn.example.com?x=1",
    ],
)
def test_media_origins_must_be_bare_http_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an http\\(s\\) origin"):
        GatewaySettings(media_origins=(origin,))

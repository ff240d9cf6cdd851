"""Driving the dashboard in a real browser (Debian's Chromium through Playwright) and checking what it sent:
the helpers of tests/dashboard (whose conftest.py holds the fixtures).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, ViewportSize
from playwright.async_api import expect as playwright_expect

from tests.support.pipeline import Pipeline
from tests.support.proxy import CuttableProxy as CuttableProxy  # where the dashboard tests find it
from tests.support.waiting import eventually as eventually  # likewise
from videojobs.contract import TERMINAL_JOB_STATES

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of the main states land here (README: "The dashboard"); CI keeps them as artifacts.
SCREENSHOTS = Path(os.environ.get("VIDEOJOBS_SCREENSHOT_DIR", ROOT / "build" / "screenshots" / "dashboard"))
WIDE: ViewportSize = {"width": 1280, "height": 860}
NARROW: ViewportSize = {"width": 390, "height": 844}
TERMINAL = {state.value for state in TERMINAL_JOB_STATES}

expect = playwright_expect
expect.set_options(timeout=20_000)


def chromium_executable() -> str:
    """Debian's chromium (Playwright's own browser download cannot run here): found, or the test fails."""
    explicit = os.environ.get("CHROMIUM_EXECUTABLE")
    if explicit:
        if not Path(explicit).is_file():
            pytest.fail(f"CHROMIUM_EXECUTABLE={explicit} does not exist", pytrace=False)
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no Chromium found for the dashboard's browser tests: install Debian's package "
        "(apt-get install chromium; make test does where it can) or set CHROMIUM_EXECUTABLE",
        pytrace=False,
    )


@dataclass
class User:
    name: str
    key: str
    api: httpx.AsyncClient

    async def create(self, prompt: str, **spec: Any) -> dict[str, Any]:
        answer = await self.api.post(
            "/v1/videos", json={"prompt": prompt, **spec}, headers={"idempotency-key": uuid.uuid4().hex}
        )
        assert answer.status_code == 201, answer.text
        job: dict[str, Any] = answer.json()
        return job

    async def jobs(self) -> list[dict[str, Any]]:
        answer = await self.api.get("/v1/videos", params={"page_size": 100})
        assert answer.status_code == 200, answer.text
        jobs: list[dict[str, Any]] = answer.json()["jobs"]
        return jobs

    async def wait(self, job_id: str, states: set[str] = TERMINAL, within: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                job: dict[str, Any] = (await self.api.get(f"/v1/videos/{job_id}")).json()
                if job["state"] in states:
                    return job
                await asyncio.sleep(0.1)


@dataclass
class Dashboard:
    """One browser tab on the dashboard, with what it logged."""

    page: Page
    context: BrowserContext
    stack: Pipeline
    base_url: str
    errors: list[str] = field(default_factory=list)
    allowed_failures: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)

    def allow_failed_loads(self, *url_parts: str) -> None:
        """Network failures the test causes on purpose (Chromium logs each as a console error)."""
        self.allowed_failures.extend(url_parts)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and any(
            part in url for part in self.allowed_failures
        ):
            return
        self.errors.append(f"console: {message.text} ({url})")

    def sent(self, method: str, path_pattern: str) -> list[tuple[dict[str, str], str | None]]:
        """(headers, body) of the requests the page sent to the gateway matching method and path regex."""
        return [
            (headers, body)
            for m, url, headers, body in self.requests
            if m == method and re.search(path_pattern, url.removeprefix(self.base_url))
        ]

    async def open(self) -> None:
        await self.page.goto("/dashboard")

    async def sign_in(self, user: User | str) -> None:
        key = user.key if isinstance(user, User) else user
        if self.page.url == "about:blank":
            await self.open()
        await self.page.locator("#key").fill(key)
        await self.page.get_by_role("button", name="Show my videos").click()
        if isinstance(user, User):
            await expect(self.page.locator("#who")).to_have_text(f"Signed in as {user.name}")
            await expect(self.page.locator("#quota")).to_contain_text("videos left today")

    def row(self, job_id: str) -> Locator:
        return self.page.locator(f"#job-{job_id}")

    def rows(self) -> Locator:
        return self.page.locator("#jobs > li")

    async def job_ids(self) -> list[str]:
        ids: list[str] = await self.rows().evaluate_all("rows => rows.map(r => r.dataset.id)")
        return ids

    async def create(self, prompt: str, *, providers: tuple[str, ...] = ("sim",)) -> None:
        await self.fill_form(prompt, providers=providers)
        await self.page.get_by_role("button", name="Create video").click()

    async def fill_form(self, prompt: str, *, providers: tuple[str, ...] = ("sim",)) -> None:
        await self.page.get_by_label("Prompt").fill(prompt)
        for name in providers:
            await self.page.locator(f"#provider-{name}").check()

    async def horizontal_overflow(self) -> int:
        overflow: int = await self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        return overflow

    async def screenshot(self, name: str, *, full_page: bool = True) -> None:
        """The current state at 1280 px and 390 px wide, checking it never scrolls sideways."""
        await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
        original = self.page.viewport_size or WIDE
        for label, size in (("1280", WIDE), ("390", NARROW)):
            await self.page.set_viewport_size(size)
            await self.page.evaluate("document.fonts.ready")
            assert await self.horizontal_overflow() <= 0, f"{name} scrolls sideways at {label} px"
            await self.page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=full_page)
        await self.page.set_viewport_size(original)


async def open_dashboard(
    browser: Browser, stack: Pipeline, *, viewport: ViewportSize = WIDE, **context: Any
) -> tuple[Dashboard, BrowserContext]:
    options: dict[str, Any] = {"base_url": stack.url, "viewport": dict(viewport)} | context
    browser_context = await browser.new_context(**options)
    page = await browser_context.new_page()
    dashboard = Dashboard(page=page, context=browser_context, stack=stack, base_url=options["base_url"])
    if not any(getattr(route, "path", "") == "/v1/models" for route in stack.gateway.app.routes):
        # A gateway without the model catalog: the page asks once, gets 404 and offers the spec's fields.
        dashboard.allow_failed_loads("/v1/models")
    page.on("console", dashboard.on_console)
    page.on("pageerror", lambda error: dashboard.errors.append(f"page error: {error}"))
    page.on(
        "request",
        lambda r: dashboard.requests.append((r.method, r.url, r.headers, r.post_data)),
    )
    return dashboard, browser_context


def body_of(sent: tuple[dict[str, str], str | None]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sent[1] or "{}")
    return data

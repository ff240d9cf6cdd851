"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the quick-start pipeline
(gateway, job_service with its worker, provider_service with the sim, storage_service on the GCS emulator).

One browser per xdist worker; one pipeline per test module (tests use their own users, so they share it);
one browser context (fresh storage, cookies, viewport) per test. Every test fails on a JavaScript error or a
console error (a CSP refusal included) that it did not declare.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from provider_service.sim.server import SimProvider
from tests.support.dashboard import Dashboard, User, chromium_executable, open_dashboard
from tests.support.gcs import emulator_client, fresh_bucket
from tests.support.pipeline import Pipeline, pipeline_running
from tests.support.postgres import DatabaseFactory
from tests.support.providers import quick_sim
from videojobs_cli.gcs_emulator import GcsEmulator


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_executable())
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> Iterator[SimProvider]:
    """The sim provider of a module's pipeline; a module may set SIM_SETTINGS overrides."""
    settings: dict[str, Any] = {
        "sim_job_seconds": 0.6,
        "sim_slow_seconds": 60,
        "sim_video_seconds": 2,
        "sim_width": 320,
        "sim_height": 180,
    } | getattr(request.module, "SIM_SETTINGS", {})
    with quick_sim(**settings) as provider:
        yield provider


@pytest.fixture(scope="module")
async def stack(
    request: pytest.FixtureRequest,
    database_factory: DatabaseFactory,
    gcs_emulator: GcsEmulator,
    sim: SimProvider,
) -> AsyncIterator[Pipeline]:
    """The pipeline shared by a module's tests; a module may set JOB_SETTINGS overrides."""
    job: dict[str, Any] = {"default_providers": ["sim"]} | getattr(request.module, "JOB_SETTINGS", {})
    database_url = database_factory.create()
    bucket = fresh_bucket(emulator_client(gcs_emulator.url))
    try:
        async with pipeline_running(
            database_url,
            gcs_emulator.url,
            bucket,
            providers={"sim_url": sim.public_url},
            gateway={},
            **job,
        ) as pipeline:
            yield pipeline
    finally:
        database_factory.drop(database_url)


@pytest.fixture
async def new_user(stack: Pipeline, request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """new_user("alice") -> a User with a fresh key and an API client (names are made unique per test)."""
    clients: list[httpx.AsyncClient] = []

    async def make(name: str) -> User:
        unique = f"{name}-{uuid.uuid4().hex[:6]}"
        key = await stack.key(unique)
        client = httpx.AsyncClient(base_url=stack.url, headers={"authorization": f"Bearer {key}"}, timeout=30)
        clients.append(client)
        return User(unique, key, client)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def signed_in(dashboard: Dashboard, new_user: Callable[..., Any]) -> Callable[[str], Awaitable[User]]:
    """signed_in("alice") -> a new User (as new_user makes them), signed in on the test's dashboard."""

    async def sign_in(name: str) -> User:
        user: User = await new_user(name)
        await dashboard.sign_in(user)
        return user

    return sign_in


@pytest.fixture
async def dashboard(browser: Browser, stack: Pipeline) -> AsyncIterator[Dashboard]:
    """A fresh tab (own storage) at 1280 px; fails the test on any undeclared console or page error."""
    opened, context = await open_dashboard(browser, stack)
    yield opened
    await context.close()
    assert opened.errors == [], "\n".join(opened.errors)

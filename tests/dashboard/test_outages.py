"""Our own services out of reach, as the user sees it: a row says its video waits (and that nothing is lost)
while provider_service or storage_service is down, a finished video whose link cannot be made says it is
stored, and both carry on by themselves when the service is back (docs/failure-rules.md, "Our own
infrastructure"). The services are stopped and started again on the same ports, so this module's pipeline
is its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from provider_service.sim.server import SimProvider
from tests.support.dashboard import Dashboard, expect
from tests.support.pipeline import Pipeline
from tests.support.providers import provider_settings
from tests.support.services import provider_service_running, storage_service_running
from tests.support.storage import storage_settings
from videojobs_cli.gcs_emulator import GcsEmulator

SIM_SETTINGS = {"sim_slow_seconds": 4}
STORED = "Your video is stored safely, but its link cannot be made right now. It will appear here by itself."
NO_PROVIDERS = (
    "We cannot reach the video providers for a moment. "
    "Nothing is lost: this video carries on by itself when they are back."
)
NO_STORAGE = (
    "Our video storage cannot be reached for a moment. "
    "Nothing is lost: this video is saved as soon as it is back."
)


async def completed_unread(stack: Pipeline, job_id: str) -> None:
    """Wait for the job to complete, read from the database: a read through the API would sign its links."""
    async with asyncio.timeout(30):
        while stack.sql("SELECT state FROM jobs WHERE id = %s", job_id) != [("COMPLETED",)]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_rows_say_what_waits_for_our_services_and_carry_on_when_they_are_back(
    dashboard: Dashboard,
    new_user: Callable[..., Any],
    stack: Pipeline,
    sim: SimProvider,
    gcs_emulator: GcsEmulator,
) -> None:
    alice = await new_user("alice")
    stored = await alice.create("a lantern on a pier", providers=["sim"])
    await completed_unread(stack, stored["id"])
    storage_port, provider_port = stack.storage.port, stack.provider.port
    await stack.storage.stop(0)

    await dashboard.sign_in(alice)
    done = dashboard.row(stored["id"])
    await expect(done.locator(".badge")).to_have_text("Completed")
    await expect(done.locator(".job-note")).to_have_text(STORED)
    await expect(done.locator(".placeholder-text")).to_have_text("Video stored")
    await expect(done.locator(".thumb-button")).to_be_hidden()
    await expect(done.get_by_role("link", name="Download")).to_be_hidden()

    await dashboard.create("[sim:slow] a ferry leaving port")
    waiting = dashboard.rows().first
    await expect(waiting.locator(".badge")).to_have_text("Generating")
    await expect(waiting.locator(".job-note")).to_be_hidden()
    await stack.provider.stop(0)
    await expect(waiting.locator(".job-note")).to_have_text(NO_PROVIDERS)
    await expect(waiting.locator(".badge")).to_have_text("Generating")
    await dashboard.screenshot("waiting-for-our-services")

    async with provider_service_running(
        provider_settings(sim_url=sim.public_url, provider_port=provider_port)
    ):
        await expect(waiting.locator(".badge")).to_have_text("Saving")
        await expect(waiting.locator(".job-note")).to_have_text(NO_STORAGE)
        await expect(done.locator(".job-note")).to_have_text(STORED)
        settings = storage_settings(
            gcs_emulator.url, stack.bucket.name, fetch_allow_local=True, storage_port=storage_port
        )
        async with storage_service_running(settings):
            for row in (waiting, done):
                await expect(row.locator(".badge")).to_have_text("Completed")
                await expect(row.locator("img.thumb")).to_be_visible()
                await expect(row.get_by_role("link", name="Download")).to_be_visible()
                await expect(row.locator(".job-note")).to_be_hidden()
    jobs = {job["id"]: job for job in await alice.jobs()}
    assert [job["provider"] for job in jobs.values()] == ["sim", "sim"]
    assert all(job["attempt"] == 1 for job in jobs.values())

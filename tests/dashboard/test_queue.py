"""A job held back by a provider limit (`VIDEOJOBS_LIMITS`): its row says why it waits and how many videos are
ahead of it, in words, and stops saying so once it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.dashboard import Dashboard, expect

JOB_SETTINGS = {"limits": {"sim": {"max_in_flight": 1}}}
SIM_SETTINGS = {"sim_slow_seconds": 120}
STARTS_BY_ITSELF = "It starts by itself when its turn comes."


async def test_a_job_held_back_by_a_provider_limit_says_why_and_how_many_are_ahead(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    alice = await signed_in("alice")
    for prompt in ("[sim:slow] a tram at night", "[sim:slow] a kite on a beach", "a heron in the reeds"):
        await dashboard.create(prompt)
        await expect(dashboard.page.get_by_label("Prompt")).to_have_value("")
    await expect(dashboard.rows()).to_have_count(3)
    third, second, first = [dashboard.rows().nth(index) for index in range(3)]

    await expect(first.locator(".badge")).to_have_text("Generating")
    await expect(first.locator(".job-note")).to_be_hidden()
    await expect(second.locator(".badge")).to_have_text("Queued")
    await expect(second.locator(".job-note")).to_have_text(f"Waiting for a sim slot. {STARTS_BY_ITSELF}")
    await expect(third.locator(".job-note")).to_have_text(
        f"Waiting for a sim slot (1 video ahead of it). {STARTS_BY_ITSELF}"
    )
    await dashboard.screenshot("queued")

    await first.get_by_role("button", name="Cancel").click()
    await expect(second.locator(".badge")).to_have_text("Generating")
    await expect(second.locator(".job-note")).to_be_hidden()
    await expect(third.locator(".job-note")).to_have_text(f"Waiting for a sim slot. {STARTS_BY_ITSELF}")
    [waiting] = [job for job in await alice.jobs() if job["spec"]["prompt"] == "a heron in the reeds"]
    reason = (await alice.api.get(f"/v1/videos/{waiting['id']}")).json()["queue_reason"]
    assert reason == "waiting for a sim slot"

"""Live updates: streams that fail or drop are resumed, the list and quota refresh by themselves, and
signed URLs are replaced before they expire and when the player fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, Route

from tests.support.dashboard import CuttableProxy, Dashboard, eventually, expect, open_dashboard
from tests.support.pipeline import Pipeline

SIM_SETTINGS = {"sim_slow_seconds": 3}


async def test_a_stream_that_fails_to_open_is_retried_and_the_row_still_completes(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    await signed_in("alice")
    page = dashboard.page
    dashboard.allow_failed_loads("/events")
    await page.route("**/v1/videos/*/events", lambda route: route.abort(), times=1)

    await dashboard.create("[sim:slow] a clock tower at noon")
    row = dashboard.rows().first
    await expect(row.locator(".live")).to_be_visible()
    await expect(row.locator(".live")).to_have_text("reconnecting…")
    await expect(row.locator(".live")).to_be_hidden()
    await expect(row.locator(".badge")).to_have_text("Generating")
    await expect(row.locator(".badge")).to_have_text("Completed", timeout=30_000)
    await expect(page.locator("#announce")).to_contain_text("is now Completed.")

    assert len(dashboard.sent("GET", r"/events$")) == 2


async def test_a_stream_dropped_midway_resumes_after_the_last_event(
    browser: Browser, stack: Pipeline, new_user: Callable[..., Any]
) -> None:
    bob = await new_user("bob")
    proxy = CuttableProxy(stack.gateway.port)
    await proxy.start()
    dashboard, context = await open_dashboard(browser, stack, base_url=proxy.url)
    try:
        await dashboard.sign_in(bob)
        dashboard.allow_failed_loads("/v1/")

        await dashboard.create("[sim:slow] a tram crossing a bridge")
        row = dashboard.rows().first
        await expect(row.locator(".badge")).to_have_text("Generating")
        proxy.cut()
        await expect(row.locator(".live")).to_be_visible()
        await expect(row.locator(".badge")).to_have_text("Completed", timeout=30_000)
        await expect(row.locator(".live")).to_be_hidden()
        streams = dashboard.sent("GET", r"/events$")
    finally:
        await context.close()
        await proxy.stop()

    assert "last-event-id" not in streams[0][0]
    assert len(streams) >= 2
    assert int(streams[-1][0]["last-event-id"]) >= 3  # pending, submitting, processing seen: not sent again
    assert dashboard.errors == []


async def test_jobs_made_retried_or_deleted_elsewhere_show_with_the_periodic_refresh(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    carol = await new_user("carol")
    page = dashboard.page
    await page.clock.install()
    await dashboard.sign_in(carol)
    await expect(page.locator("#empty")).to_be_visible()
    quota_before = await page.locator("#quota").inner_text()

    made_elsewhere = await carol.create("made in another tab", providers=["sim"])
    await page.clock.fast_forward(11_000)
    row = dashboard.row(made_elsewhere["id"])
    await expect(row.locator(".badge")).to_have_text("Completed")
    await expect(page.locator("#quota")).not_to_have_text(quota_before)
    await expect(page.locator("#quota")).to_contain_text("999 of 1000 videos left today")
    retried = await carol.create("[sim:slow] retried in another tab", providers=["sim"])
    assert (await carol.api.post(f"/v1/videos/{retried['id']}/cancel")).status_code == 200
    await page.clock.fast_forward(11_000)
    await expect(dashboard.row(retried["id"]).locator(".badge")).to_have_text("Cancelled")
    assert (await carol.api.post(f"/v1/videos/{retried['id']}/retry")).status_code == 200
    await page.clock.fast_forward(11_000)
    await expect(dashboard.row(retried["id"]).locator(".facts")).to_contain_text("attempt 2")
    await expect(dashboard.row(retried["id"]).locator(".badge")).to_have_text(
        "Completed"
    )  # followed live again
    await carol.wait(made_elsewhere["id"])
    assert (await carol.api.delete(f"/v1/videos/{made_elsewhere['id']}")).status_code == 200
    await page.clock.fast_forward(11_000)
    await expect(row).to_have_count(0)
    assert await dashboard.job_ids() == [retried["id"]]


async def test_signed_urls_are_replaced_before_they_expire(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    dave = await new_user("dave")
    job = await dave.create("a windmill at dusk", providers=["sim"])
    job = await dave.wait(job["id"])
    page = dashboard.page

    async def short_lived(route: Route) -> None:
        """The list as the server sent it, but its URLs expire in 3 s (as with a short URL TTL)."""
        response = await route.fetch()
        listing = await response.json()
        soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
        for item in listing["jobs"]:
            item["urls_expire_time"] = soon
        await route.fulfill(response=response, json=listing)

    await page.route("**/v1/videos?*", short_lived)
    await dashboard.sign_in(dave)
    await expect(dashboard.row(job["id"]).locator("img.thumb")).to_be_visible()
    reads = dashboard.sent("GET", rf"^/v1/videos/{job['id']}$")
    await eventually(lambda: len(dashboard.sent("GET", rf"^/v1/videos/{job['id']}$")) == 1)
    await asyncio.sleep(1.5)  # the fresh URLs (an hour) are not replaced again

    assert reads == []  # nothing before 80% of the URLs' life
    assert len(dashboard.sent("GET", rf"^/v1/videos/{job['id']}$")) == 1


async def test_a_video_that_fails_to_load_gets_fresh_urls_and_plays(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    erin = await new_user("erin")
    job = await erin.create("a heron taking off", providers=["sim"])
    job = await erin.wait(job["id"])
    page = dashboard.page
    refused: list[str] = []

    async def refuse_once(route: Route) -> None:
        if refused:
            await route.continue_()
            return
        refused.append(route.request.url)
        await route.fulfill(status=403, body="expired", content_type="text/plain")  # as GCS says it

    dashboard.allow_failed_loads(job["video_url"].split("?")[0])
    await page.route(job["video_url"].split("?")[0] + "*", refuse_once)
    await dashboard.sign_in(erin)
    row = dashboard.row(job["id"])
    await row.get_by_role("button", name="Play “a heron taking off”").click()
    player = row.locator("video.player")
    await page.wait_for_function("v => v.currentTime > 0", arg=await player.element_handle())

    assert refused
    assert len(dashboard.sent("GET", rf"^/v1/videos/{job['id']}$")) == 1  # fetched again for fresh URLs

"""Keys and sessions: one user's data never shows under another key, a bad key shows nothing, and log
out forgets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import Route

from tests.support.dashboard import Dashboard, expect


async def test_switching_keys_shows_only_the_new_users_jobs(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    alice = await new_user("alice")
    bob = await new_user("bob")
    alices = await alice.create("alice's secret garden", providers=["sim"])
    bobs = await bob.create("bob's boat", providers=["sim"])
    page = dashboard.page
    await dashboard.sign_in(alice)
    await expect(dashboard.row(alices["id"])).to_be_visible()
    await page.get_by_label("Prompt").fill("alice's unsent idea")

    # Alice's next listing is slow; the key is switched before it arrives.
    release = asyncio.Event()

    async def slow_for_alice(route: Route) -> None:
        if route.request.headers.get("authorization") == f"Bearer {alice.key}":
            await release.wait()
        await route.continue_()

    await page.route("**/v1/videos?*", slow_for_alice)
    try:
        await page.get_by_label("Show").select_option("Completed")
        await page.get_by_role("button", name="Switch key").click()
        await expect(page.locator("#app")).to_be_hidden()
        await dashboard.sign_in(bob)
    finally:
        release.set()  # also when a step above failed: a held route handler would keep the tab from closing
    await expect(dashboard.row(bobs["id"])).to_be_visible()
    await asyncio.sleep(0.5)  # alice's late answer has arrived by now
    text = await page.locator("body").inner_text()

    assert await dashboard.job_ids() == [bobs["id"]]
    assert "alice" not in text
    assert await page.get_by_label("Prompt").input_value() == ""
    assert await page.get_by_label("Show").input_value() == ""


async def test_a_bad_key_shows_the_error_and_nothing_of_the_previous_user(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    carol = await new_user("carol")
    job = await carol.create("carol's cathedral", providers=["sim"])
    page = dashboard.page
    dashboard.allow_failed_loads("/v1/quota")
    await dashboard.sign_in(carol)
    await expect(dashboard.row(job["id"])).to_be_visible()

    await page.get_by_role("button", name="Switch key").click()
    await dashboard.sign_in("vj_this-key-does-not-exist")
    await expect(page.get_by_role("alert")).to_contain_text(
        "This key was not accepted. Check that you pasted all of it, or ask for a new one."
    )
    text = await page.locator("body").inner_text()

    assert await page.locator("#app").is_hidden()
    assert await dashboard.rows().count() == 0
    assert "carol" not in text
    assert await page.locator("#quota").inner_text() == ""
    assert await page.evaluate("sessionStorage.length") == 0


async def test_the_key_lasts_as_long_as_the_tab_and_log_out_forgets_it(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    dave = await signed_in("dave")
    page = dashboard.page
    await page.get_by_label("Prompt").fill("dave's unsent idea")

    await page.reload()
    await expect(page.locator("#who")).to_have_text(f"Signed in as {dave.name}")
    await expect(page.get_by_label("Prompt")).to_have_value("dave's unsent idea")  # the draft survives
    other_tab = await dashboard.context.new_page()
    await other_tab.goto("/dashboard")
    await expect(other_tab.get_by_role("heading", name="Sign in")).to_be_visible()
    await other_tab.close()
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    stored = await page.evaluate("[sessionStorage.length, Object.keys(localStorage)]")
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    assert stored == [0, []]
    assert await page.locator("#key").input_value() == ""

"""Errors in human words: the quota in the user's own time, servers that do not answer or answer nonsense,
and being offline; never a raw parser error or an internal detail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser

from tests.support.dashboard import Dashboard, expect, open_dashboard
from tests.support.pipeline import Pipeline

JOB_SETTINGS = {"daily_limit": 2}


async def test_over_quota_says_when_more_videos_come_in_the_users_time(
    browser: Browser, stack: Pipeline, new_user: Callable[..., Any]
) -> None:
    alice = await new_user("alice")
    for n in range(2):
        await alice.create(f"clip {n}", providers=["sim"])
    # UTC+5:30 all year: the 00:00 UTC reset is 05:30 there.
    dashboard, context = await open_dashboard(browser, stack, timezone_id="Asia/Kolkata", locale="en-GB")
    try:
        page = dashboard.page
        dashboard.allow_failed_loads("/v1/videos")
        await dashboard.sign_in(alice)
        await dashboard.create("one too many")
        await expect(page.locator("#create-error")).to_have_text(
            "You have used today's 2 videos; more at 05:30 your time."
        )
        await expect(page.locator("#quota")).to_contain_text("0 of 2 videos left today · more at 05:30")
        await expect(page.get_by_role("button", name="Create video")).to_be_enabled()
    finally:
        await context.close()

    assert dashboard.errors == []
    assert len(await alice.jobs()) == 2


async def test_servers_that_answer_nonsense_or_nothing_and_being_offline_are_explained(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    bob = await new_user("bob")
    page = dashboard.page
    dashboard.allow_failed_loads("/v1/")
    await dashboard.sign_in(bob)
    error = page.locator("#create-error")
    again = "Nothing is lost: press Create video again and it will not be made twice."

    await page.route(
        "**/v1/videos",
        lambda route: route.fulfill(status=502, content_type="text/html", body="<html>Bad Gateway</html>"),
        times=1,
    )
    await dashboard.create("a proxy in the way")
    await expect(error).to_have_text(
        f"The server gave an answer this page does not understand (HTTP 502). {again}"
    )
    await page.route("**/v1/videos", lambda route: route.abort("connectionrefused"), times=1)
    await page.get_by_role("button", name="Create video").click()
    await expect(error).to_have_text(f"The video service cannot be reached right now. {again}")
    await dashboard.context.set_offline(True)
    await page.get_by_role("button", name="Create video").click()
    await expect(error).to_have_text("You are offline. Try again when the connection is back.")
    await expect(page.locator("#offline")).to_be_visible()
    await dashboard.context.set_offline(False)
    await expect(page.locator("#offline")).to_be_hidden()
    await page.get_by_role("button", name="Create video").click()
    await expect(dashboard.rows()).to_have_count(1)
    text = await page.locator("body").inner_text()
    keys = {headers["idempotency-key"] for headers, _ in dashboard.sent("POST", r"^/v1/videos$")}

    assert "Unexpected token" not in text
    assert "JSON" not in text
    assert len(keys) == 1  # every attempt was the same intended video
    assert len(await bob.jobs()) == 1

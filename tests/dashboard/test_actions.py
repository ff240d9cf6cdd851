"""What a user does with a job: cancel, retry, delete (confirmed), read why it was blocked or failed, filter
and page through the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.dashboard import Dashboard, expect


async def test_cancel_retry_and_delete_where_the_state_allows(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    alice = await signed_in("alice")
    page = dashboard.page
    await dashboard.create("[sim:slow] a very long sunset")
    row = dashboard.rows().first
    badge = row.locator(".badge")
    await expect(badge).to_have_text("Generating")
    await expect(row.get_by_role("button", name="Retry")).to_be_hidden()
    await expect(row.get_by_role("button", name="Delete")).to_be_hidden()

    await row.get_by_role("button", name="Cancel").click()
    await expect(badge).to_have_text("Cancelled")
    await expect(row.get_by_role("button", name="Cancel")).to_be_hidden()
    await row.get_by_role("button", name="Retry").click()
    await expect(badge).to_have_text("Generating")
    await expect(row.locator(".facts")).to_contain_text("attempt 2")
    await row.get_by_role("button", name="Cancel").click()
    await expect(badge).to_have_text("Cancelled")

    delete = row.get_by_role("button", name="Delete")
    await delete.click()
    dialog = page.get_by_role("dialog", name="Delete this video?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("[sim:slow] a very long sunset")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(dialog).to_be_hidden()
    await expect(delete).to_be_focused()
    job_id = (await dashboard.job_ids())[0]
    await delete.click()
    await dialog.get_by_role("button", name="Delete").click()
    await expect(dashboard.rows()).to_have_count(0)
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#announce")).to_have_text("“[sim:slow] a very long sunset” was deleted.")

    assert (await alice.api.get(f"/v1/videos/{job_id}")).status_code == 404
    assert await alice.jobs() == []


async def test_a_content_violation_is_orange_and_explains_what_to_change(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    await signed_in("bob")
    page = dashboard.page
    await dashboard.create("[sim:violation] a street fight")
    row = dashboard.rows().first
    badge = row.locator(".badge")
    await expect(badge).to_have_text("Content violation")
    colours = await badge.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).borderColor]"
    )
    await expect(row.locator(".job-error")).to_have_text("The provider's content policy blocked this video.")
    await expect(row.get_by_role("button", name="Retry")).to_be_hidden()

    details = row.get_by_role("button", name="View details")
    await details.click()
    dialog = page.get_by_role("dialog", name="This video was blocked by the provider's content policy")
    await expect(dialog).to_be_visible()
    reasons = await dialog.locator("#violation-reasons li").all_inner_texts()
    guidance = await dialog.locator(".guidance li").all_inner_texts()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(details).to_be_focused()
    await details.click()
    await dialog.get_by_role("button", name="Edit the prompt").click()
    await expect(page.get_by_label("Prompt")).to_have_value("[sim:violation] a street fight")
    await expect(page.get_by_label("Prompt")).to_be_focused()

    assert colours == ["rgb(255, 237, 213)", "rgb(251, 146, 60)"]  # orange, as seed 000's badge
    assert reasons == ["sim:violation"]  # the provider's own reasons
    assert any("real people" in line for line in guidance)


async def test_failures_are_explained_without_provider_internals(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    carol = await new_user("carol")
    unset = await carol.create("a red balloon", providers=["runway"])  # runway is not set up here
    rejected = await carol.create("[sim:reject] a blue balloon", providers=["sim"])
    unset = await carol.wait(unset["id"])
    rejected = await carol.wait(rejected["id"])
    await dashboard.sign_in(carol)
    await expect(dashboard.row(rejected["id"]).locator(".badge")).to_have_text("Failed")
    text = await dashboard.page.locator("body").inner_text()

    assert unset["state"] == rejected["state"] == "FAILED"
    # The API gives the reason and a human sentence; which setting is missing is for the operator's logs.
    assert unset["error"]["code"] == "PROVIDER_NOT_CONFIGURED"
    assert unset["error"]["message"] == "this provider is not available on this service"
    assert await dashboard.row(unset["id"]).locator(".job-error").inner_text() == (
        "None of the chosen providers can make this video on this server. Choose another provider. "
        "It did not count towards today's quota."
    )
    assert await dashboard.row(rejected["id"]).locator(".job-error").inner_text() == (
        "The provider refused these settings. Try another prompt, image or duration. "
        "It did not count towards today's quota."
    )
    for internal in (unset["error"]["message"], rejected["error"]["message"], "RUNWAYML", "sim provider"):
        assert internal not in text


async def test_filter_by_state_and_load_more_pages(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    dave = await new_user("dave")
    jobs = [await dave.create(f"clip {n}", providers=["sim"]) for n in range(11)]
    jobs += [await dave.create(f"[sim:reject] refused {n}", providers=["sim"]) for n in range(2)]
    for job in jobs:
        await dave.wait(job["id"])
    page = dashboard.page
    await dashboard.sign_in(dave)
    await expect(dashboard.rows()).to_have_count(12)
    more = page.get_by_role("button", name="Load more")

    await more.click()
    await expect(dashboard.rows()).to_have_count(13)
    await expect(more).to_be_hidden()
    ids = await dashboard.job_ids()
    await page.get_by_label("Show").select_option("Failed")
    await expect(dashboard.rows()).to_have_count(2)
    failed = await dashboard.rows().locator(".badge").all_inner_texts()
    await page.get_by_label("Show").select_option("All")
    await expect(dashboard.rows()).to_have_count(12)

    assert ids == [job["id"] for job in reversed(jobs)]  # newest first, as the API lists them
    assert failed == ["Failed", "Failed"]

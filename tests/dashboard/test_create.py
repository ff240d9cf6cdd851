"""Creating videos from the page: the result plays, and however the user clicks or reloads, one job."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from playwright.async_api import Route

from tests.support.dashboard import Dashboard, body_of, expect


async def test_create_reaches_completed_with_a_thumbnail_and_a_playable_video(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    alice = await signed_in("alice")
    page = dashboard.page

    await dashboard.create("a paper boat on a rainy street")
    row = dashboard.rows().first
    await expect(row.locator(".badge")).to_have_text("Completed")
    thumbnail = row.locator("img.thumb")
    await expect(thumbnail).to_be_visible()
    await thumbnail.evaluate("img => img.decode()")  # rejects unless the image loads and decodes
    await dashboard.screenshot("completed")
    await dashboard.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await row.get_by_role("button", name="Copy link").click()
    await expect(page.locator("#announce")).to_contain_text("Link copied (works until ")
    copied = await page.evaluate("navigator.clipboard.readText()")
    await row.get_by_role("button", name="Play “a paper boat on a rainy street”").click()
    player = row.locator("video.player")
    await expect(player).to_be_visible()
    await page.wait_for_function("v => v.currentTime > 0", arg=await player.element_handle())
    await dashboard.screenshot("playing")  # the player takes the row's width, and still no sideways scroll
    duration = await player.evaluate("v => v.duration")
    jobs = await alice.jobs()

    assert len(jobs) == 1
    assert jobs[0]["state"] == "COMPLETED"
    assert await row.get_attribute("id") == f"job-{jobs[0]['id']}"
    assert await thumbnail.get_attribute("src") == jobs[0]["thumbnail_url"]
    assert await player.get_attribute("src") == jobs[0]["video_url"]
    assert 1 < duration < 3  # the sim renders 2 s
    assert await row.locator(".download").get_attribute("href") == jobs[0]["video_url"]
    assert copied == jobs[0]["video_url"]
    assert "sim · attempt 1 · took" in await row.locator(".facts").inner_text()
    assert await page.locator("#prompt").input_value() == ""  # ready for the next video


async def test_double_and_triple_clicks_make_one_job_each(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    bob = await signed_in("bob")
    button = dashboard.page.get_by_role("button", name="Create video")

    await dashboard.fill_form("two clicks, one video")
    await button.dblclick()
    await expect(dashboard.rows()).to_have_count(1)
    await expect(button).to_be_enabled()
    await dashboard.fill_form("three clicks, one video")
    await button.click(click_count=3)
    await expect(dashboard.rows()).to_have_count(2)
    await expect(button).to_be_enabled()
    await asyncio.sleep(0.5)  # any late duplicate request would land now
    jobs = await bob.jobs()
    posts = dashboard.sent("POST", r"^/v1/videos$")

    assert sorted(job["spec"]["prompt"] for job in jobs) == [
        "three clicks, one video",
        "two clicks, one video",
    ]
    assert len(posts) == 2
    assert posts[0][0]["idempotency-key"] != posts[1][0]["idempotency-key"]


async def test_a_reload_in_the_middle_of_a_create_sends_the_same_request_again(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    carol = await signed_in("carol")
    page = dashboard.page
    held = asyncio.Event()

    async def hold_the_first_answer(route: Route) -> None:
        if held.is_set():
            await route.continue_()
            return
        await route.fetch()  # the server has made the job; its answer never reaches the page
        held.set()

    await page.route("**/v1/videos", hold_the_first_answer)
    await dashboard.create("a lighthouse in a storm")
    async with asyncio.timeout(30):  # the route handler sets it; an error there must fail, not hang, the test
        await held.wait()
    await expect(page.get_by_role("button", name="Create video")).to_be_disabled()
    await page.reload()
    await expect(dashboard.rows()).to_have_count(1)
    await expect(dashboard.rows().first.locator(".badge")).to_have_text("Completed")
    jobs = await carol.jobs()
    posts = dashboard.sent("POST", r"^/v1/videos$")

    assert len(jobs) == 1
    assert len(posts) == 2
    assert posts[0][0]["idempotency-key"] == posts[1][0]["idempotency-key"]
    assert (
        body_of(posts[0])
        == body_of(posts[1])
        == {"prompt": "a lighthouse in a storm", "aspect_ratio": "16:9", "providers": ["sim"]}
    )
    assert await page.locator("#prompt").input_value() == ""


async def test_a_lost_answer_is_sent_again_with_the_same_key_when_the_user_retries(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    dave = await signed_in("dave")
    page = dashboard.page
    dashboard.allow_failed_loads("/v1/videos")
    answers: list[int] = []

    async def lose_the_first_answer(route: Route) -> None:
        response = await route.fetch()
        answers.append(response.status)
        if len(answers) == 1:
            await route.abort("connectionreset")
        else:
            await route.fulfill(response=response)

    await page.route("**/v1/videos", lose_the_first_answer)
    await dashboard.create("a fox in the snow")
    error = page.locator("#create-error")
    await expect(error).to_have_text(
        "The video service cannot be reached right now. "
        "Nothing is lost: press Create video again and it will not be made twice."
    )
    await page.get_by_role("button", name="Create video").click()
    await expect(dashboard.rows()).to_have_count(1)
    await expect(error).to_be_hidden()
    jobs = await dave.jobs()
    posts = dashboard.sent("POST", r"^/v1/videos$")

    assert answers == [201, 200]  # the second is the replay of the first: no new job, no quota used
    assert len(jobs) == 1
    assert posts[0][0]["idempotency-key"] == posts[1][0]["idempotency-key"]


async def test_editing_after_an_unknown_outcome_is_a_new_video_with_a_new_key(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    await signed_in("erin")
    page = dashboard.page
    dashboard.allow_failed_loads("/v1/videos")
    await page.route("**/v1/videos", lambda route: route.abort("connectionreset"), times=1)

    await dashboard.create("first idea")
    await expect(page.locator("#create-error")).to_be_visible()
    await page.get_by_label("Prompt").fill("second idea")
    await page.get_by_role("button", name="Create video").click()
    await expect(dashboard.rows()).to_have_count(1)
    posts = dashboard.sent("POST", r"^/v1/videos$")

    assert [body_of(p)["prompt"] for p in posts] == ["first idea", "second idea"]
    assert posts[0][0]["idempotency-key"] != posts[1][0]["idempotency-key"]


async def test_fields_are_checked_and_explained_next_to_them(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    frank = await signed_in("frank")
    page = dashboard.page
    prompt = page.get_by_label("Prompt")

    await page.get_by_role("button", name="Create video").click()
    await expect(page.locator("#prompt-error")).to_have_text(
        "Describe the video you want, or give an image to animate."
    )
    await expect(prompt).to_have_attribute("aria-invalid", "true")
    await prompt.fill("x" * 2001)
    await expect(page.locator("#prompt-count")).to_have_text("2001 / 2000")
    await expect(page.locator("#prompt-count")).to_have_class("counter over")
    await prompt.fill("a cat")
    await page.get_by_label("Image URL").fill("ftp://example.com/cat.png")
    await page.get_by_role("button", name="Create video").click()
    await expect(page.locator("#image-error")).to_have_text("Use the https:// or gs:// address of a picture.")

    assert dashboard.sent("POST", r"^/v1/videos$") == []
    assert await frank.jobs() == []


CATALOG = {
    "models": [
        {
            "provider": "sim",
            "id": "sim-1",
            "title": "Sim One",
            "modes": ["text_to_video"],
            "durations": [2, 90],
            "default_duration": 2,
            "aspect_ratios": ["16:9", "1:1"],
            "resolutions": ["180p"],
            "max_prompt_chars": 300,
            "audio": None,
            "configured": True,
        },
        {
            "provider": "fal",
            "id": "fal-ai/kling-video/v2/image-to-video",
            "modes": ["image_to_video"],
            "durations": [5, 10],
            "default_duration": 5,
            "aspect_ratios": ["16:9", "9:16", "1:1"],
            "resolutions": ["720p"],
            "max_prompt_chars": 2500,
            "audio": None,
            "configured": False,
        },
    ],
    "providers": [
        {"name": "sim", "configured": True, "default_text_model": "sim-1", "default_image_model": ""},
        {"name": "fal", "configured": False, "default_text_model": "", "default_image_model": ""},
    ],
}


async def test_the_form_is_built_from_the_model_catalog(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    """GET /v1/models in its documented shape (answered here by the test) shapes the form."""
    grace = await new_user("grace")
    page = dashboard.page
    await page.route("**/v1/models", lambda route: route.fulfill(json=CATALOG))
    await dashboard.sign_in(grace)
    model = page.get_by_label("Model")

    options = await model.locator("option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent, o.disabled])"
    )
    await model.select_option("sim|sim-1")
    durations = await page.get_by_label("Duration").locator("option").all_inner_texts()
    aspects = await page.get_by_label("Aspect ratio").locator("option").all_inner_texts()
    await expect(page.locator("#prompt-count")).to_have_text("0 / 300")
    await expect(page.locator("#provider-fal")).to_be_disabled()
    await expect(page.locator("#provider-sim")).to_be_checked()
    # 90 s is more than the API allows: its field error comes back and is shown next to the field.
    dashboard.allow_failed_loads("/v1/videos")
    await page.get_by_label("Duration").select_option("90")
    await dashboard.create("a kite over a beach", providers=())
    await expect(page.locator("#duration-error")).to_have_text("Choose one of the listed durations.")
    await expect(page.locator("#create-error")).to_have_text(
        "Some fields need a change; see the notes next to them."
    )
    await page.get_by_label("Duration").select_option("2")
    await page.get_by_role("button", name="Create video").click()
    await expect(dashboard.rows()).to_have_count(1)
    posts = dashboard.sent("POST", r"^/v1/videos$")

    assert options == [
        ["", "Automatic: the server's default", False],
        ["sim|sim-1", "Sim One", False],
        [
            "fal|fal-ai/kling-video/v2/image-to-video",
            "fal-ai/kling-video/v2/image-to-video (not set up here)",
            True,
        ],
    ]
    assert durations == ["2 seconds", "90 seconds"]
    assert aspects == ["16:9 wide", "1:1 square"]
    assert body_of(posts[-1]) == {
        "prompt": "a kite over a beach",
        "duration_seconds": 2,
        "aspect_ratio": "16:9",
        "model": "sim-1",
        "providers": ["sim"],
    }
    assert posts[0][0]["idempotency-key"] == posts[1][0]["idempotency-key"]  # a refusal wrote nothing


async def test_the_provider_order_is_set_by_keyboard_and_kept_with_the_draft(
    dashboard: Dashboard, new_user: Callable[..., Any]
) -> None:
    """Two providers on offer (the catalog answered here by the test): the ticked ones are sent in the order
    the user put them, and the order survives a reload."""
    helen = await new_user("helen")
    page = dashboard.page
    catalog = copy.deepcopy(CATALOG)
    catalog["providers"][1]["configured"] = True
    await page.route("**/v1/models", lambda route: route.fulfill(json=catalog))
    await dashboard.sign_in(helen)
    items = page.locator("#provider-list > li")
    await dashboard.fill_form("a tram in the fog", providers=("sim", "fal"))
    before = await items.evaluate_all("items => items.map(i => i.dataset.provider)")

    await page.get_by_role("button", name="Move fal up").focus()
    await page.keyboard.press("Enter")
    # fal is now first, so its "up" button is hidden: the focus moves to its "down" button, not off the page.
    await expect(page.get_by_role("button", name="Move fal down")).to_be_focused()
    await page.reload()
    await expect(page.locator("#provider-fal")).to_be_checked()
    await expect(page.locator("#provider-sim")).to_be_checked()
    after = await items.evaluate_all("items => items.map(i => i.dataset.provider)")
    await page.get_by_role("button", name="Create video").click()
    await expect(dashboard.rows()).to_have_count(1)
    posts = dashboard.sent("POST", r"^/v1/videos$")
    jobs = await helen.jobs()

    assert before == ["sim", "fal"]
    assert after == ["fal", "sim"]
    assert body_of(posts[0])["providers"] == ["fal", "sim"]
    assert jobs[0]["spec"]["providers"] == ["fal", "sim"]

"""How the page looks and reads: screenshots of the main states at 1280 and 390 px (never scrolling
sideways), labels for every control, keyboard use, and text contrast of at least WCAG AA."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.dashboard import SCREENSHOTS, Dashboard, expect

SIM_SETTINGS = {"sim_slow_seconds": 120}


async def test_the_main_states_at_1280_and_390_px(dashboard: Dashboard, new_user: Callable[..., Any]) -> None:
    alice = await new_user("alice")
    page = dashboard.page
    await dashboard.open()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await dashboard.screenshot("signed-out")

    specs = [
        ("[sim:reject] a hot-air balloon over the desert", {}),
        ("[sim:violation] a street fight at night", {}),
        ("[sim:slow] a sailing race seen from above", {}),
        ("a lighthouse in a storm, waves crashing, cinematic", {"aspect_ratio": "9:16"}),
        ("a paper boat drifting down a rainy street at dusk, close-up", {}),
        ("[sim:slow] a cancelled idea", {}),
    ]
    jobs = [await alice.create(prompt, providers=["sim"], **spec) for prompt, spec in specs]
    assert (await alice.api.post(f"/v1/videos/{jobs[-1]['id']}/cancel")).status_code == 200
    for job in jobs[:2] + jobs[3:5]:
        await alice.wait(job["id"])
    await dashboard.sign_in(alice)
    for job, state in zip(
        jobs,
        ["Failed", "Content violation", "Generating", "Completed", "Completed", "Cancelled"],
        strict=True,
    ):
        await expect(dashboard.row(job["id"]).locator(".badge")).to_have_text(state)
    for job in jobs[3:5]:
        await dashboard.row(job["id"]).locator("img.thumb").evaluate("img => img.decode()")
    await dashboard.screenshot("jobs")

    await dashboard.row(jobs[1]["id"]).get_by_role("button", name="View details").click()
    await dashboard.screenshot("violation-details", full_page=False)  # a modal covers the viewport
    await page.keyboard.press("Escape")
    await dashboard.row(jobs[4]["id"]).get_by_role("button", name="Delete").click()
    await dashboard.screenshot("delete-confirm", full_page=False)
    await page.get_by_role("button", name="Keep it").click()

    await page.get_by_label("Image URL").fill("ftp://example.com/cat.png")
    await page.get_by_role("button", name="Create video").click()
    await expect(page.locator("#create-error")).to_be_visible()
    await dashboard.screenshot("form-errors")

    names = sorted(path.name for path in SCREENSHOTS.glob("*.png"))
    for state in ("signed-out", "jobs", "violation-details", "delete-confirm", "form-errors"):
        assert f"{state}-1280.png" in names
        assert f"{state}-390.png" in names


async def test_every_control_is_labelled_and_the_page_works_by_keyboard(
    dashboard: Dashboard, signed_in: Callable[..., Any]
) -> None:
    await signed_in("bob")
    page = dashboard.page

    await page.get_by_label("Prompt").focus()
    await page.keyboard.type("a snail racing a tortoise")
    await page.keyboard.press("Control+Enter")
    row = dashboard.rows().first
    await expect(row.locator(".badge")).to_have_text("Completed")
    await expect(page.locator("#announce")).to_contain_text("is now Completed.")
    play = row.get_by_role("button", name="Play “a snail racing a tortoise”")
    await play.focus()
    await page.keyboard.press("Enter")
    await expect(row.locator("video.player")).to_be_visible()
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, a[href], video')]
            .filter(el => el.offsetParent !== null || el.getClientRects().length)
            .filter(el => {
              const labels = el.labels ? [...el.labels].map(l => l.textContent.trim()).join('') : '';
              return !(labels || el.getAttribute('aria-label') || el.textContent.trim()
                       || el.getAttribute('title') || el.tagName === 'VIDEO');
            })
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    providers = await page.get_by_role("group", name="Providers in order of preference").count()
    live_regions = await page.evaluate(
        "[...document.querySelectorAll('[aria-live], [role=alert], [role=status]')].map(e => e.id)"
    )

    assert unlabelled == []
    assert providers == 1
    assert {"announce", "error", "create-error", "create-status", "quota"} <= set(live_regions)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


async def test_text_meets_aa_contrast_in_every_state(dashboard: Dashboard) -> None:
    await dashboard.open()
    # Each text style of the page as the browser computes it: colour, and the first opaque background up.
    samples = await dashboard.page.evaluate(
        """() => {
          const states = ['pending', 'submitting', 'processing', 'finalizing', 'completed', 'failed',
                          'content_violation', 'cancelled'];
          const probes = [
            ...states.map(s => ['badge ' + s, '<span class="badge state-' + s + '">x</span>']),
            ['hint', '<p class="hint">x</p>'],
            ['facts', '<div class="meta"><span class="facts">x</span></div>'],
            ['quota', '<p class="quota">x</p>'],
            ['live', '<span class="live">x</span>'],
            ['job error', '<li class="job"><p class="job-error">x</p></li>'],
            ['violation error',
             '<li class="job" data-state="CONTENT_VIOLATION"><p class="job-error">x</p></li>'],
            ['primary button', '<button class="primary">x</button>'],
            ['danger button', '<button class="danger">x</button>'],
            ['details button', '<button class="link-button">x</button>'],
            ['error banner', '<div class="banner error">x</div>'],
            ['offline banner', '<div class="banner warn">x</div>'],
            ['form error', '<p class="form-error">x</p>'],
            ['field error', '<span class="field-error">x</span>'],
            ['counter over', '<span class="counter over">x</span>'],
          ];
          const host = document.createElement('div');
          host.className = 'card';
          document.body.append(host);
          const parse = c => c.match(/[\\d.]+/g).map(Number);
          return probes.map(([name, html]) => {
            host.innerHTML = html;
            let el = host.firstElementChild;
            while (el.firstElementChild) el = el.firstElementChild;
            const color = parse(getComputedStyle(el).color);
            let node = el, background = null;
            while (node && !background) {
              const bg = parse(getComputedStyle(node).backgroundColor);
              if (bg.length < 4 || bg[3] > 0) background = bg;
              node = node.parentElement;
            }
            return [name, color, background || [255, 255, 255]];
          });
        }"""
    )
    ratios = {name: round(_contrast(tuple(fg), tuple(bg)), 2) for name, fg, bg in samples}
    badge_colours = {tuple(bg) for name, _, bg in samples if name.startswith("badge ")}

    assert len(ratios) == 22
    assert len(badge_colours) == 8  # every state its own colour, not only its own word
    assert {name: r for name, r in ratios.items() if r < 4.5} == {}

"""The built site in a real browser: navigation, search and diagrams work, and look right, on a
desk and on a phone.

Headless Chromium (Debian's package) on the built site served from 127.0.0.1. Screenshots of the
pages go to .artifacts/screenshots/ for a person to look at (phone-*.png: 390 px wide). Without
chromium the tests skip, except in CI, which must run them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from grader.browser import chromium, static_files
from grader.manifest import ROOT, load_course
from tests.conftest import Site, require_chromium, url_of

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
LAB = load_course().lab("lab3")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS pixels

require_chromium()


async def visit(site: Site, path: str, check, shot: str, viewport: dict = DESKTOP) -> Path:
    """Open the page at `path` of the served site, run `check(page)`, save screenshot `shot`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{shot}.png"
    with static_files(site.folder) as port:
        async with chromium() as browser:
            page = await browser.new_page(viewport=viewport)
            await page.goto(f"http://127.0.0.1:{port}/{path}", wait_until="networkidle")
            await check(page)
            await page.screenshot(path=shot, full_page=False)
    return shot


def test_home_page_navigates_to_every_lab(site: Site):
    async def check(page):
        assert "Production FastAPI" in await page.title()
        for lab in load_course().labs:
            link = page.locator(f'nav a[href$="{url_of(lab.page)}"]').first
            assert await link.count(), f"no navigation link to {lab.page}"
        await page.locator(f'nav a[href$="{url_of(LAB.page)}"]').first.click()
        await page.wait_for_url(f"**/{url_of(LAB.page)}")
        assert LAB.heading in await page.locator("h1").first.inner_text()

    assert asyncio.run(visit(site, "", check, "home")).stat().st_size > 10_000


def test_search_finds_a_lesson(site: Site):
    async def check(page):
        await page.locator("input.md-search__input").click()
        await page.keyboard.type("event loop", delay=30)  # as a person types: search reacts to keys
        # Results show while the query is still being typed and searched: wait for the whole one's.
        first = page.locator(".md-search-result__item a").first
        await expect(first).to_have_attribute("href", re.compile("async-safety"), timeout=15_000)

    asyncio.run(visit(site, "", check, "search"))


def test_lesson_diagrams_render(site: Site):
    """Material draws each diagram in a closed shadow root: the diagram's source text leaves the
    page and a drawing of real size takes its place (a failed one stays visible as source)."""

    async def check(page):
        consumed = "[...document.querySelectorAll('.mermaid')].every(d => !d.textContent.trim())"
        await page.wait_for_function(f"() => {consumed}", timeout=15_000)
        diagrams = await page.locator(".mermaid").all()
        assert diagrams, "the lesson has no diagram"
        for diagram in diagrams:
            box = await diagram.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, box
        await diagrams[0].scroll_into_view_if_needed()

    asyncio.run(visit(site, url_of(LAB.lesson), check, "lesson-diagram"))


def test_lab_page_hides_the_solution(site: Site):
    async def check(page):
        solution = page.locator("details.success").first
        assert await solution.count() and await solution.get_attribute("open") is None
        assert not await solution.locator("code").first.is_visible()
        await solution.locator("summary").click()
        assert await solution.locator("code").first.is_visible()

    asyncio.run(visit(site, url_of(LAB.page), check, "lab-page"))


# Visible elements that reach past either edge of the viewport: cut off, since Material's <html>
# hides horizontal overflow (so the page's scrollWidth alone cannot tell). Inside a code block or a
# table, content may be wider (it scrolls there), but not the block itself: Material's script wraps
# each table in a scroll wrapper, and until it has, its stylesheet lets the table scroll by itself.
# The sidebars are off-canvas drawers at this width until opened.
CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const cut = [];
  for (const element of document.querySelectorAll(".md-header *, .md-main *, .md-footer *")) {
    if (element.parentElement.closest("pre, .highlight, .md-typeset__scrollwrap, table")) continue;
    const shown = element.checkVisibility({opacityProperty: true, visibilityProperty: true});
    if (!shown || element.closest(".md-sidebar")) continue;
    const box = element.getBoundingClientRect();
    if (box.width && (box.left < -1 || box.right > width + 1)) {
      const name = [element.tagName.toLowerCase(), ...element.classList].join(".");
      cut.push(`${name} spans x=${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, cut};
}"""


@pytest.mark.parametrize(
    ("source", "shot"),
    [("index.md", "phone-home"), (LAB.lesson, "phone-lesson"), (LAB.page, "phone-lab-page")],
    ids=["home", "lesson", "lab-page"],
)
def test_pages_fit_a_phone(site: Site, source: str, shot: str):
    async def check(page):
        layout = await page.evaluate(CUT_OFF)
        assert layout["scrollWidth"] <= layout["width"], f"{source} scrolls sideways: {layout}"
        assert not layout["cut"], f"{source} at {layout['width']} px wide cuts off:\n" + "\n".join(
            layout["cut"]
        )

    asyncio.run(visit(site, url_of(source), check, shot, viewport=PHONE))

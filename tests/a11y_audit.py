"""axe-core's audit of a built site in headless Chromium, for one colour scheme: run as a process
of its own by tests/test_a11y.py's background works.

`python -m tests.a11y_audit SITE PREFERENCE STEP_SECONDS OUT` audits every page of the site built
at SITE, and its search results, for a reader who prefers PREFERENCE (light or dark), and writes
axe's violations by page to OUT as JSON.

Why a process: the audit is Python too (Playwright's client reading axe's results, the server of
the site's files), and it runs in Linux's idle scheduling class, on the CPU time the gradings
leave. In a thread of the test session, it held the session's interpreter lock while the busy
machine kept it off the CPU: every other thread of the session (the examples' event loops and
their fake servers) then waited for it, half a second and more (two examples failed so in CI).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from grader.browser import chromium, static_files

SCHEMES = {"light": "default", "dark": "slate"}
"""The reader's preference → the Material scheme it must select (mkdocs.yml's palette)."""
SEARCH = "lab"
"""A query with results on any version of the course."""
TABS = 2
"""Tabs auditing pages at once: the machines have two cores."""
SETTLED = "() => document.getAnimations().every(animation => animation.playState !== 'running')"
ONLY_VIOLATIONS = {"resultTypes": ["violations"]}
"""axe lists every element a rule passed unless told otherwise: thousands of text nodes on a
lesson's page for the contrast rule. Asked for violations, it lists one node of the others, and
takes about half the time (measured on four lessons: 10.5 s against 18.9 s); the violations it
finds are the same."""


def built_pages(site: Path) -> list[str]:
    """The URL path of every page the site builds (the 404 page too): a/b/index.html → a/b/."""
    return sorted(
        page.relative_to(site).as_posix().removesuffix("index.html")
        for page in site.rglob("*.html")
    )


async def violations(page: Page, axe: Axe) -> list[dict]:
    return (await axe.run(page, options=ONLY_VIOLATIONS)).response["violations"]


async def audit(site: Path, preference: str, step_seconds: float) -> dict[str, list[dict]]:
    """axe's violations on each page, and on the search results, for a reader who prefers
    `preference`: one browser, with TABS tabs sharing the pages (axe is CPU-bound, in Chromium's
    renderer processes: one per tab), so the time grows with the pages alone. Each step (a page's
    load, an audit) may take `step_seconds`: the process gets the CPU only where nothing else
    wants it."""
    axe = Axe()
    paths = built_pages(site)
    found = {}
    with static_files(site) as port:
        async with chromium() as browser:
            context = await browser.new_context(
                color_scheme=preference, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(step_seconds * 1000)
            tabs = [await context.new_page() for _ in range(TABS)]

            async def check(page: Page, share: list[str]) -> None:
                for path in share:
                    await page.goto(f"http://127.0.0.1:{port}/{path}")
                    scheme = await page.evaluate("document.body.dataset.mdColorScheme")
                    assert scheme == SCHEMES[preference], f"/{path} shows scheme {scheme!r}"
                    found[f"/{path}"] = await violations(page, axe)

            await asyncio.gather(*(check(tab, paths[i::TABS]) for i, tab in enumerate(tabs)))

            page = tabs[0]
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.locator("input.md-search__input").click()
            await page.keyboard.type(SEARCH, delay=30)  # search reacts to keys, as a person types
            await page.locator(".md-search-result__item").first.wait_for()
            await page.wait_for_function(SETTLED)  # results fade in: axe reads colours as shown
            found[f"/ with search results for {SEARCH!r}"] = await violations(page, axe)
    return dict(sorted(found.items()))


def main() -> None:
    site, preference, step_seconds, out = sys.argv[1:]
    found = asyncio.run(audit(Path(site), preference, float(step_seconds)))
    Path(out).write_text(json.dumps(found))


if __name__ == "__main__":
    main()

"""Every page of the built site meets WCAG 2.1 AA as axe-core checks it, in both colour schemes.

axe-core's rules (its script ships inside the axe-playwright-python wheel: nothing is fetched) run
in headless Chromium on every HTML page the site builds, so a new page is covered without a line
here. Each scheme is checked as a reader gets it: Chromium reports a light or dark preference
(`prefers-color-scheme`), Material's palette follows it, and each page's scheme is checked. The
search dialog's results, which exist only once someone types, are checked too.

Serious and critical violations fail the test. Moderate and minor ones are reported as warnings
(pytest lists them in its summary), for someone to judge.

The audits are the heaviest load of `make test` (Chromium's renderers keep two cores busy for a
minute and a half): they run as background works (tests/conftest.py), on a build of their own,
in the CPU time the gradings leave idle.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from grader.browser import chromium, static_files
from grader.manifest import load_course
from tests.conftest import (
    BACKGROUND_WAIT,
    Site,
    ahead_of_time,
    build_site,
    require_chromium,
    result_of,
    scratch,
    url_of,
)

require_chromium()

SCHEMES = {"light": "default", "dark": "slate"}
"""The reader's preference → the Material scheme it must select (mkdocs.yml's palette)."""
FAILING = {"serious", "critical"}
SEARCH = "lab"
"""A query with results on any version of the course."""
TABS = 2
"""Tabs auditing pages at once: the machines have two cores."""
SETTLED = "() => document.getAnimations().every(animation => animation.playState !== 'running')"


class AccessibilityWarning(UserWarning):
    """A moderate or minor axe finding: reported for a person to judge, not failed."""


def built_pages(site: Site) -> list[str]:
    """The URL path of every page the site builds (the 404 page too): a/b/index.html → a/b/."""
    return sorted(
        page.relative_to(site.folder).as_posix().removesuffix("index.html")
        for page in site.folder.rglob("*.html")
    )


ONLY_VIOLATIONS = {"resultTypes": ["violations"]}
"""axe lists every element a rule passed unless told otherwise: thousands of text nodes on a
lesson's page for the contrast rule. Asked for violations, it lists one node of the others, and
takes about half the time (measured on four lessons: 10.5 s against 18.9 s); the violations it
finds are the same."""


async def violations(page: Page, axe: Axe) -> list[dict]:
    return (await axe.run(page, options=ONLY_VIOLATIONS)).response["violations"]


async def audit(site: Site, paths: list[str], preference: str) -> dict[str, list[dict]]:
    """axe's violations on each page, and on the search results, for a reader who prefers
    `preference`: one browser, with TABS tabs sharing the pages (axe is CPU-bound, in Chromium's
    renderer processes: one per tab), so the time grows with the pages alone."""
    axe = Axe()
    found = {}
    with static_files(site.folder) as port:
        async with chromium() as browser:
            context = await browser.new_context(
                color_scheme=preference, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(BACKGROUND_WAIT * 1000)
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


def described(where: str, violation: dict) -> str:
    """One violation with every element it names: its selector and what axe measured."""
    lines = [f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}"]
    for node in violation["nodes"]:
        checks = node["any"] or node["all"] or node["none"]
        why = checks[0]["message"] if checks else node.get("failureSummary", "")
        lines.append(f"    {' '.join(node['target'])}: {why}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Audit:
    site: Site
    pages: list[str]
    """`built_pages(site)`: what was audited."""
    found: dict[str, list[dict]]
    """axe's violations by page (`audit`); empty if the site did not build."""


@functools.cache  # background works run one at a time: the schemes' audits share one build
def audited_site() -> Site:
    return build_site(scratch() / "audited-site", timeout=BACKGROUND_WAIT)


@ahead_of_time("site_audit", background=True)
def audit_site(params: dict[str, Any], folder: Path) -> Audit:
    site = audited_site()
    if site.returncode != 0:
        return Audit(site, [], {})
    pages = built_pages(site)
    return Audit(site, pages, asyncio.run(audit(site, pages, params["preference"])))


@pytest.fixture
def site_audit(request: pytest.FixtureRequest) -> Audit:
    return result_of(request)


@pytest.mark.parametrize("preference", SCHEMES)
def test_every_page_meets_wcag_aa(site_audit: Audit, preference: str):
    site, paths, found = site_audit.site, site_audit.pages, site_audit.found
    assert site.returncode == 0, site.output
    course = load_course()
    for page in ["index.md", *(p for lab in course.labs for p in (lab.lesson, lab.page))]:
        assert url_of(page) in paths, f"{page} was not found in the built site: {paths}"

    failing = []
    for where, page_violations in found.items():
        for violation in page_violations:
            if violation["impact"] in FAILING:
                failing.append(described(where, violation))
            else:
                report = f"{preference}: {described(where, violation)}"
                warnings.warn(report, AccessibilityWarning, stacklevel=1)
    assert not failing, f"{len(failing)} serious or critical WCAG violations:\n" + "\n".join(
        failing
    )

"""The course site builds without a single warning and agrees with course.toml.

Lesson links in the grader's hints point at section ids, and lab pages show each check's title
and points: both must exist in the built site, or learners follow links to nowhere.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from grader.manifest import ROOT, Check, Lab, load_course
from tests.conftest import Site

LABS = load_course().labs
CHECKS = [(lab, check) for lab in LABS for check in lab.checks]


def text_of(page: str) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_site_builds_strictly_without_warnings(site: Site) -> None:
    assert site.returncode == 0, site.output
    warnings = [line for line in site.output.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)


@pytest.mark.parametrize(
    ("lab", "check"), CHECKS, ids=[f"{lab.id}-{check.name}" for lab, check in CHECKS]
)
def test_hint_links_reach_a_lesson_section(site: Site, lab: Lab, check: Check) -> None:
    page = lab.lesson_of(check)
    assert f'id="{check.lesson_section}"' in site.page(page), (
        f"{page} has no section with id {check.lesson_section!r}, "
        f"which the hint of {check.name} links to"
    )


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_lab_page_lists_every_check_and_the_total(site: Site, lab: Lab) -> None:
    text = text_of(site.page(lab.page))
    for check in lab.checks:
        assert f"{check.title} {check.points}" in text, f"{lab.page} lacks the row of {check.name}"
    assert f"Total {lab.max_points}" in text, f"{lab.page} does not show {lab.max_points} points"


def test_included_code_shows_no_snippet_markers(site: Site) -> None:
    shown = [
        str(page.relative_to(site.folder))
        for page in site.folder.rglob("*.html")
        if "--8&lt;--" in page.read_text(encoding="utf-8")
    ]
    assert not shown, f"pages that show a --8<-- section marker: {shown}"


LESSONS = sorted(
    path
    for path in (ROOT / "docs" / "modules").rglob("*.md")
    if path.name != "lab.md"  # a lab page shows the starter, and the solution folded away
)
INCLUDE = re.compile(r'--8<--\s+"(?P<path>[^"]+)"')


@pytest.mark.parametrize("lesson", LESSONS, ids=[str(p.relative_to(ROOT)) for p in LESSONS])
def test_lessons_teach_on_examples_of_their_own(lesson: Path) -> None:
    """A lesson never includes a lab's starter or solution: it teaches each technique on an
    example of its own in examples/, tested, and the lab is where the learner builds it."""
    included = INCLUDE.findall(lesson.read_text(encoding="utf-8"))
    foreign = [path for path in included if not path.startswith("examples/")]
    assert not foreign, f"{lesson.relative_to(ROOT)} includes {foreign}: use an example instead"


HREF = re.compile(r'(?:href|src)="([^"]+)"')
ID = re.compile(r'id="([^"]+)"')


def test_every_internal_link_and_anchor_resolves(site: Site) -> None:
    """A link check over the built HTML, navigation and generated pages included. External links
    cannot be fetched here (no network): they are only required to be https."""
    pages = {path: path.read_text(encoding="utf-8") for path in site.folder.rglob("*.html")}
    broken, insecure = [], []
    for path, page in pages.items():
        for link in set(HREF.findall(page)):
            parts = urlsplit(html.unescape(link))
            if parts.scheme in ("http", "https", "mailto", "data"):
                if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost"):
                    insecure.append(f"{path.relative_to(site.folder)}: {link}")
                continue
            base = site.folder if parts.path.startswith("/") else path.parent  # 404.html: from root
            target = (base / unquote(parts.path.lstrip("/"))).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site.folder)}: {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = set(ID.findall(pages.get(target, "") or target.read_text(encoding="utf-8")))
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site.folder)}: {link} (no such anchor)")
    assert not broken, "\n".join(sorted(broken))
    assert not insecure, "\n".join(sorted(insecure))

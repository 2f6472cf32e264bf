"""The course site builds without a single warning and agrees with course.toml.

Lesson links in the grader's hints point at section ids, and lab pages show each check's title
and points: both must exist in the built site, or learners follow links to nowhere.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.manifest import ROOT, Check, Lab, load_course

LABS = load_course().labs
CHECKS = [(lab, check) for lab in LABS for check in lab.checks]


@dataclass(frozen=True)
class Site:
    folder: Path
    returncode: int
    output: str

    def page(self, source: str) -> str:
        """The HTML built from docs/`source` (MkDocs' directory URLs: a/b.md → a/b/index.html)."""
        built = self.folder / source.removesuffix(".md") / "index.html"
        assert built.is_file(), f"{source} was not built:\n{self.output}"
        return built.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Site(folder, build.returncode, build.stdout + build.stderr)


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
    lesson = site.page(lab.lesson)
    assert f'id="{check.lesson_section}"' in lesson, (
        f"{lab.lesson} has no section with id {check.lesson_section!r}, "
        f"which the hint of {check.name} links to"
    )


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_lab_page_lists_every_check_and_the_total(site: Site, lab: Lab) -> None:
    text = text_of(site.page(lab.page))
    for check in lab.checks:
        assert f"{check.title} {check.points}" in text, f"{lab.page} lacks the row of {check.name}"
    assert f"Total {lab.max_points}" in text, f"{lab.page} does not show {lab.max_points} points"


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_included_code_shows_no_snippet_markers(site: Site, lab: Lab) -> None:
    for source in (lab.lesson, lab.page):
        assert "--8&lt;--" not in site.page(source), f"{source} shows a --8<-- section marker"

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
in the CPU time the gradings leave idle, each in a process of its own (tests/a11y_audit.py).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.manifest import ROOT, load_course
from tests.a11y_audit import SCHEMES, built_pages
from tests.conftest import (
    BACKGROUND_WAIT,
    Site,
    ahead_of_time,
    build_site,
    environment,
    idle_class,
    require_chromium,
    result_of,
    scratch,
    url_of,
)

require_chromium()

FAILING = {"serious", "critical"}


class AccessibilityWarning(UserWarning):
    """A moderate or minor axe finding: reported for a person to judge, not failed."""


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
    """`built_pages(site.folder)`: what was audited."""
    found: dict[str, list[dict]]
    """axe's violations by page (tests/a11y_audit.py); empty if the site did not build."""


@functools.cache  # background works run one at a time: the schemes' audits share one build
def audited_site() -> Site:
    return build_site(scratch() / "audited-site", timeout=BACKGROUND_WAIT, idle=True)


@ahead_of_time("site_audit", background=True)
def audit_site(params: dict[str, Any], folder: Path) -> Audit:
    """The audit of one scheme, by tests/a11y_audit.py, in a process of Linux's idle class."""
    site = audited_site()
    if site.returncode != 0:
        return Audit(site, [], {})
    out = folder / "violations.json"
    command = [
        sys.executable, "-m", "tests.a11y_audit",
        str(site.folder), params["preference"], str(BACKGROUND_WAIT), str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=environment(), preexec_fn=idle_class, capture_output=True, text=True
    )
    assert done.returncode == 0, f"the audit failed:\n{done.stdout}{done.stderr}"
    return Audit(site, built_pages(site.folder), json.loads(out.read_text()))


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
    unaudited = [path for path in paths if f"/{path}" not in found]
    assert not unaudited, f"pages the audit did not reach: {unaudited}"

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

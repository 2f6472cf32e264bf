"""The course manifest, course.toml: every lab's metadata, checks, points and hints."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "course.toml"
DOCS = ROOT / "docs"
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def shown_as(folder: Path) -> str:
    """How messages name a graded folder: from the course's root when in it (`labs/lab3`)."""
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)


@dataclass(frozen=True)
class Hint:
    """A check's hint in two levels, as exercism and rustlings give them: the idea first, and the
    code only when asked (`course hint LAB --more`)."""

    concept: str
    """What to understand, and where to read: shown under every failure of the check."""
    code: str
    """How it is written: shown on request."""


@dataclass(frozen=True)
class Check:
    """One graded behaviour: a test function in the lab's grader file, worth some points."""

    name: str
    task: int
    title: str
    points: int
    hint: Hint
    lesson_section: str
    """The section of the lesson that teaches it (its heading's `{ #id }`)."""
    lesson: str | None = None
    """The lesson page holding that section, when not the lab's own lesson."""
    settings: tuple[str, ...] = ()
    """Settings this check is about: an app that cannot start and names one gets this hint."""


@dataclass(frozen=True)
class Lab:
    id: str
    module: int
    title: str
    app: str
    lesson: str
    """The lesson's page in docs/."""
    page: str
    """The lab's page in docs/."""
    notebook: str
    """The lab bench notebook, from the course root."""
    check_timeout: float
    checks: tuple[Check, ...]
    preload: tuple[str, ...] = ()
    """Modules the app imports that the fork server loads once for all its servers; an entry
    `module:function` also calls that function there, once (work every server would repeat)."""
    worker: str | None = None
    """The lab's Celery app, for `celery -A WORKER worker`, if it has one (Lab 7)."""
    system_packages: tuple[str, ...] = ()
    """Debian packages its checks run (Lab 7's redis-server): `make setup` installs them where it
    runs as root; a Classroom workflow installs them with sudo."""
    label: str | None = None
    """What it is called where not "Lab <module>": the capstone."""

    @property
    def heading(self) -> str:
        return f"{self.label or f'Lab {self.module}'} — {self.title}"

    @property
    def workspace(self) -> Path:
        """The learner's copy, labs/<id>: the grader reads it and never writes to it."""
        return ROOT / "labs" / self.id

    @property
    def solution(self) -> Path:
        return ROOT / "solutions" / self.id

    @property
    def max_points(self) -> int:
        return sum(check.points for check in self.checks)

    def lesson_of(self, check: Check) -> str:
        """The lesson page that teaches `check`."""
        return check.lesson or self.lesson

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"{self.id} has no check named {name!r} in course.toml")


@dataclass(frozen=True)
class Course:
    title: str
    site_url: str
    labs: tuple[Lab, ...]
    """In module order."""

    def lab(self, lab_id: str) -> Lab:
        for lab in self.labs:
            if lab.id == lab_id:
                return lab
        known = ", ".join(lab.id for lab in self.labs)
        raise KeyError(f"No lab {lab_id!r} in course.toml (labs: {known})")

    def lab_containing(self, path: Path) -> Lab | None:
        """The lab whose workspace holds `path`, if any."""
        for lab in self.labs:
            if path.resolve().is_relative_to(lab.workspace):
                return lab
        return None

    def page_url(self, page: str, section: str = "") -> str:
        """The site URL of a docs page (MkDocs' directory URLs), optionally at a section."""
        return urljoin(self.site_url, page_path(page)) + (f"#{section}" if section else "")

    @property
    def published(self) -> bool:
        """Whether the site lives on the web, rather than where `make serve` serves it."""
        return urlsplit(self.site_url).hostname not in LOCAL_HOSTS

    def reading(self, page: str, section: str) -> str:
        """Where to read a lesson section, in a form that works whether or not the site is
        served: the published page, or the section's heading in its file beside the local URL."""
        url = self.page_url(page, section)
        if self.published:
            return url
        return f"“{section_title(page, section)}” in docs/{page} (or {url} with `make serve`)"


def page_path(page: str) -> str:
    """Where MkDocs builds docs/`page`, from the site's root: a/b.md → a/b/, a/index.md → a/."""
    path = page.removesuffix(".md")
    return "" if path == "index" else path.removesuffix("/index") + "/"


def section_title(page: str, section: str) -> str:
    """The text of the heading that carries `{ #section }` in docs/`page`, without markup."""
    heading = re.compile(rf"^#+\s+(?P<title>.+?)\s*\{{\s*#{re.escape(section)}\s*\}}\s*$", re.M)
    try:
        match = heading.search((DOCS / page).read_text(encoding="utf-8"))
    except OSError:  # a page not written yet: tests/test_site.py fails the course for it
        match = None
    return match["title"].replace("`", "") if match else section


def _check(entry: dict) -> Check:
    return Check(hint=Hint(**entry.pop("hint")), settings=tuple(entry.pop("settings", ())), **entry)


@cache
def load_course(path: Path = MANIFEST) -> Course:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    labs = tuple(
        sorted(
            (
                Lab(
                    checks=tuple(_check(c) for c in lab.pop("checks")),
                    preload=tuple(lab.pop("preload", ())),
                    system_packages=tuple(lab.pop("system_packages", ())),
                    **lab,
                )
                for lab in data["labs"]
            ),
            key=lambda lab: lab.module,
        )
    )
    return Course(labs=labs, **data["course"])

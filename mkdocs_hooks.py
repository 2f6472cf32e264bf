"""MkDocs hook: each lab page's checks table, rendered from course.toml.

A lab page holds the line `<!-- course:checks LAB_ID -->`; the hook replaces it with the lab's
checks, their points and the total (and, for the capstone, the lesson section that taught each),
read with the grader's own loader. Titles and points then live in course.toml alone, so the site
can never disagree with what the grader awards.
"""

from __future__ import annotations

import posixpath
import re

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from grader.manifest import Check, Lab, load_course, section_title

PLACEHOLDER = re.compile(r"^<!-- course:checks (?P<lab_id>\S+) -->$", re.MULTILINE)


def checks_table(lab: Lab, page: str) -> str:
    """The lab's checks, their points and the total; where a check was taught in another module's
    lesson (the capstone's are), a column links to the section that taught it."""
    elsewhere = any(check.lesson for check in lab.checks)
    lines = ["| Task | Check | Points |" + (" Taught in |" if elsewhere else "")]
    lines.append("| :---: | --- | ---: |" + (" --- |" if elsewhere else ""))
    for check in lab.checks:
        title = check.title.replace("|", r"\|")  # a bare pipe would split the cell
        row = f"| {check.task} | {title} | {check.points} |"
        lines.append(row + (f" {taught_in(lab, check, page)} |" if elsewhere else ""))
    lines.append(f"| | **Total** | **{lab.max_points}** |" + (" |" if elsewhere else ""))
    return "\n".join(lines)


def taught_in(lab: Lab, check: Check, page: str) -> str:
    """`Module 9: [Retrieval](../modules/09-ai-apis/lesson.md#retrieval)`, linked from `page`."""
    lesson = lab.lesson_of(check)
    teacher = next(
        (
            other
            for other in load_course().labs
            if posixpath.dirname(other.lesson) == posixpath.dirname(lesson)
        ),
        None,
    )
    link = f"[{section_title(lesson, check.lesson_section)}]"
    link += f"({posixpath.relpath(lesson, posixpath.dirname(page))}#{check.lesson_section})"
    return f"Module {teacher.module}: {link}" if teacher and teacher is not lab else link


def on_pre_build(*, config: MkDocsConfig) -> None:
    # `mkdocs serve` rebuilds in the same process: read course.toml afresh each time.
    load_course.cache_clear()


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    def render(placeholder: re.Match[str]) -> str:
        try:
            return checks_table(load_course().lab(placeholder["lab_id"]), page.file.src_uri)
        except KeyError as error:
            raise PluginError(f"{page.file.src_uri}: {error.args[0]}") from None

    return PLACEHOLDER.sub(render, markdown)

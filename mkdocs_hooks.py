"""MkDocs hook: each lab page's checks table, rendered from course.toml.

A lab page holds the line `<!-- course:checks LAB_ID -->`; the hook replaces it with the lab's
checks, their points and the total, read with the grader's own loader. Titles and points then live
in course.toml alone, so the site can never disagree with what the grader awards.
"""

from __future__ import annotations

import re

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from grader.manifest import Lab, load_course

PLACEHOLDER = re.compile(r"^<!-- course:checks (?P<lab_id>\S+) -->$", re.MULTILINE)


def checks_table(lab: Lab) -> str:
    lines = ["| Task | Check | Points |", "| :---: | --- | ---: |"]
    for check in lab.checks:
        title = check.title.replace("|", r"\|")  # a bare pipe would split the cell
        lines.append(f"| {check.task} | {title} | {check.points} |")
    lines.append(f"| | **Total** | **{lab.max_points}** |")
    return "\n".join(lines)


def on_pre_build(*, config: MkDocsConfig) -> None:
    # `mkdocs serve` rebuilds in the same process: read course.toml afresh each time.
    load_course.cache_clear()


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    def render(placeholder: re.Match[str]) -> str:
        try:
            return checks_table(load_course().lab(placeholder["lab_id"]))
        except KeyError as error:
            raise PluginError(f"{page.file.src_uri}: {error.args[0]}") from None

    return PLACEHOLDER.sub(render, markdown)

"""Your companion through the course: progress, hints, grading on save, a fresh start.

course status            your score in every lab
course check lab3        grade a lab (the same as `pytest labs/lab3`)
course hint lab3         the hints of the checks that failed last time
course hint lab3 --more  the same, with how the code goes
course watch lab3        grade again each time you save a file of the lab
course reset lab3        put the starter back, keeping a backup of your files
course open              serve the course site
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grader.manifest import ROOT, Lab, load_course
from grader.report import results_file

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()
BACKUPS = ROOT / ".backups"
WAIT_MS = 500

LabId = Annotated[str, typer.Argument(help="A lab, e.g. lab3 (see `course status`).")]


def lab_named(lab_id: str) -> Lab:
    try:
        return load_course().lab(lab_id)
    except KeyError as error:
        console.print(f"[red]{error.args[0]}[/red]")
        raise typer.Exit(2) from None


def last_results(lab: Lab) -> dict[str, Any] | None:
    path = results_file(lab, "workspace")
    return json.loads(path.read_text()) if path.exists() else None


def grade(lab: Lab) -> int:
    """`pytest labs/LAB`, its output straight to the terminal; its exit status."""
    command = [sys.executable, "-m", "pytest", str(lab.workspace.relative_to(ROOT))]
    return subprocess.run(command, cwd=ROOT).returncode


@app.command()
def status() -> None:
    """Your score in every lab, and when you last graded it."""
    table = Table(title=load_course().title)
    for column in ("Lab", "Title", "Score", "Last graded"):
        table.add_column(column)
    for lab in load_course().labs:
        results = last_results(lab)
        if results is None:
            score, graded = "–", f"not yet: course check {lab.id}"
        else:
            colour = "green" if results["points"] == results["max_points"] else "yellow"
            score = f"[{colour}]{results['points']}/{results['max_points']}[/{colour}]"
            when = datetime.fromisoformat(results["graded_at"]).astimezone()
            graded = when.strftime("%Y-%m-%d %H:%M")
        table.add_row(lab.id, lab.title, score, graded)
    console.print(table)


@app.command()
def check(lab: LabId) -> None:
    """Grade a lab: the same as `pytest labs/LAB`."""
    raise typer.Exit(grade(lab_named(lab)))


@app.command()
def hint(
    lab: LabId,
    more: Annotated[bool, typer.Option("--more", help="Show how the code goes, too.")] = False,
) -> None:
    """The hints of the checks that failed when you last graded the lab."""
    chosen = lab_named(lab)
    results = last_results(chosen)
    if results is None:
        console.print(f"Grade it first: [bold]course check {chosen.id}[/bold]")
        raise typer.Exit(1)
    failed = {test["test_code"]: test for test in results["tests"] if test["status"] != "pass"}
    if not failed:
        console.print(f"[green]Every check of {chosen.heading} passed.[/green]")
        return
    course = load_course()
    told = None
    for check in chosen.checks:
        if check.name not in failed:
            continue
        console.print(f"[bold]{check.task}. {check.title}[/bold]", soft_wrap=True)
        shown = " ".join((failed[check.name].get("hint") or check.hint.concept).split())
        said = "(the same as above)" if shown == told else shown
        console.print(f"  {said}", highlight=False, soft_wrap=True)
        told = shown
        if more:
            code = " ".join(check.hint.code.split())
            console.print(f"  [bold]The code:[/bold] {code}", highlight=False, soft_wrap=True)
        reading = course.reading(chosen.lesson_of(check), check.lesson_section)
        console.print(f"  Read: {reading}\n", highlight=False, soft_wrap=True)
    if not more:
        console.print(f"Still stuck? [bold]course hint {chosen.id} --more[/bold] shows the code.")


@app.command()
def watch(lab: LabId) -> None:
    """Grade the lab now, then again each time you save one of its files (Ctrl+C stops)."""
    from watchfiles import watch as changes

    chosen = lab_named(lab)
    # Watching starts before the first grading, so that no save is missed, even one made while
    # grading: an empty set comes back each time WAIT_MS pass without a change.
    saves = changes(
        chosen.workspace / "app", yield_on_timeout=True, rust_timeout=WAIT_MS, raise_interrupt=False
    )
    next(saves)
    grade(chosen)
    folder = chosen.workspace.relative_to(ROOT)
    console.print(f"[dim]Watching {folder}: save a file to grade again.")
    for saved in saves:
        if saved:
            names = sorted({str(Path(path).relative_to(chosen.workspace)) for _, path in saved})
            console.print(f"[dim]Saved {', '.join(names)}: grading again.")
            grade(chosen)


@app.command()
def reset(
    lab: LabId,
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask for confirmation.")] = False,
    ref: Annotated[str, typer.Option(help="The git commit holding the starter.")] = "HEAD",
) -> None:
    """Put the lab's starter back, as committed in git; your files go to .backups/ first."""
    chosen = lab_named(lab)
    folder = chosen.workspace.relative_to(ROOT)
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ref, "--", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0 or not listing.stdout.strip():
        console.print(f"[red]No starter for {chosen.id} in git at {ref}: {listing.stderr.strip()}")
        raise typer.Exit(1)
    if not yes:
        typer.confirm(f"Replace your files in {folder} with the starter?", abort=True)
    backup = BACKUPS / f"{chosen.id}-{datetime.now():%Y%m%d-%H%M%S}"
    shutil.copytree(chosen.workspace, backup, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(chosen.workspace / "app")
    restore = ["git", "checkout", ref, "--", str(folder)]
    subprocess.run(restore, cwd=ROOT, check=True, capture_output=True)
    console.print(f"Starter restored in {folder}; your files are in {backup.relative_to(ROOT)}")


@app.command("open")
def open_site() -> None:
    """Serve the course site at http://127.0.0.1:8000 (Ctrl+C stops)."""
    command = [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000"]
    raise typer.Exit(subprocess.run(command, cwd=ROOT).returncode)


if __name__ == "__main__":
    app()

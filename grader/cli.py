"""`python -m grader`: the instructor's commands (learners grade with `pytest labs/LAB`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from grader import classroom, nbgrader, sandbox
from grader.batch import Limits, grade_class, submissions, write_csv
from grader.manifest import load_course

JOBS = 4 * (os.cpu_count() or 2)
"""Grading mostly waits on the labs' timers: four submissions per core keep the cores busy."""
SANDBOX_MEMORY_MB = 2048
"""What a grading takes at most, a browser's included, with room to spare."""

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


def lab_or_exit(lab_id: str):
    try:
        return load_course().lab(lab_id)
    except KeyError as error:
        raise typer.BadParameter(error.args[0]) from None


@app.command()
def batch(
    folder: Annotated[Path, typer.Argument(help="One folder per student, each holding app/.")],
    lab: Annotated[str, typer.Option(help="The lab to grade, e.g. lab3.")],
    out: Annotated[Path, typer.Option(help="The grades CSV to write.")] = Path("grades.csv"),
    results: Annotated[
        Path | None, typer.Option(help="Per-student results files [default: OUT without .csv]")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Submissions graded at once.")] = JOBS,
    timeout: Annotated[float, typer.Option(help="Seconds one submission may take.")] = 180,
    memory_mb: Annotated[
        int, typer.Option(help="Memory each process may write (not reserve).")
    ] = 4096,
    processes: Annotated[
        int, typer.Option(help="Processes and threads a submission may run at once.")
    ] = Limits.processes,
    tmp_mb: Annotated[
        int, typer.Option(help="Size of a sandbox's /tmp, and of the largest file written.")
    ] = Limits.tmp_mb,
    sandbox_memory_mb: Annotated[
        int, typer.Option(help="Memory of all a sandbox's processes together, /tmp included.")
    ] = SANDBOX_MEMORY_MB,
    no_sandbox: Annotated[
        bool, typer.Option("--no-sandbox", help="Run submissions unprotected: trusted code only.")
    ] = False,
) -> None:
    """Grade every submission in FOLDER in parallel, each in a sandbox of its own (Linux, as
    root); write a CSV and each student's results."""
    chosen = lab_or_exit(lab)
    folders = submissions(folder.absolute())
    if not folders:
        raise typer.BadParameter(f"no folder in {folder} holds an app/ folder", param_hint="FOLDER")
    if no_sandbox:
        typer.secho(f"Warning: {sandbox.NOT_PROTECTED}", fg="yellow", err=True)
    elif why := sandbox.unavailable():
        typer.secho(
            f"Cannot grade submissions in a sandbox: {why}.\n"
            "Only for code you trust, grade without one: --no-sandbox.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    start = time.perf_counter()
    limits = Limits(timeout, memory_mb, processes, tmp_mb)
    results_dir = results or out.with_suffix("")
    sandboxes = None
    if not no_sandbox:
        sandboxes = sandbox.Sandbox(
            chosen, tmp_mb=tmp_mb, processes=processes, memory_mb=sandbox_memory_mb
        )
        if sandboxes.without_cgroups:
            typer.secho(f"Warning: {sandbox.NO_CGROUPS} ({sandboxes.without_cgroups})", err=True)
    with sandboxes or contextlib.nullcontext():
        graded = asyncio.run(grade_class(chosen, folders, results_dir, limits, jobs, sandboxes))
    write_csv(chosen, graded, out)
    minutes = (time.perf_counter() - start) / 60
    scale = os.environ.get("COURSE_TIME_SCALE", "1")
    protected = "unsandboxed" if no_sandbox else "each in a sandbox"
    typer.echo(
        f"Graded {len(graded)} submissions of {chosen.heading}, {protected}, in "
        f"{minutes * 60:.1f} s ({len(graded) / minutes:.1f}/min, COURSE_TIME_SCALE {scale}): "
        f"{out}, {results_dir}/"
    )


@app.command("nbgrader")
def nbgrader_course(
    course: Annotated[Path, typer.Argument(help="The nbgrader course folder to write.")],
    labs: Annotated[
        list[str] | None, typer.Option("--lab", help="A lab; repeat. [default: all]")
    ] = None,
) -> None:
    """Turn labs into nbgrader assignments (notebook + starter app) and generate them."""
    chosen = [lab_or_exit(lab) for lab in labs] if labs else list(load_course().labs)
    nbgrader.generate(chosen, course.resolve())
    typer.echo(f"Generated {', '.join(lab.id for lab in chosen)} in {course}/release")


@app.command("classroom")
def classroom_workflows(
    labs: Annotated[
        list[str] | None, typer.Option("--lab", help="A lab; repeat. [default: all]")
    ] = None,
) -> None:
    """Write each lab's GitHub Classroom autograding workflow into classroom/."""
    chosen = [lab_or_exit(lab) for lab in labs] if labs else list(load_course().labs)
    for lab in chosen:
        typer.echo(f"Wrote {classroom.write(lab).relative_to(classroom.ROOT)}")

"""What Linux's /proc says about a process: its state, its parent, its CPU time, its children.

One reader for the grader's servers (is the app busy or asleep?), gunicorn's master and workers,
Celery's pool and the course's reaper. Where there is no /proc, a process has no stat, so it
reads as gone, and has no children: callers say what they do then.
"""

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
"""The unit of /proc's CPU times, per second."""


@dataclass(frozen=True)
class Stat:
    state: str
    """R running, S asleep, D waiting on a disk, Z dead and not yet reaped by its parent, ..."""
    parent: int
    cpu_seconds: float
    """User and system time so far."""

    @property
    def asleep(self) -> bool:
        return self.state in "SD"


def stat(pid: int) -> Stat | None:
    """The process's stat, or None once it is gone (or where there is no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (command) ", which may hold spaces
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return Stat(fields[0], int(fields[1]), (user_ticks + system_ticks) / CLOCK_TICKS)


def running(pid: int) -> bool:
    """Not gone, and not dead awaiting its parent's reaping."""
    found = stat(pid)
    return found is not None and found.state != "Z"


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid`: a master's workers, a pool's processes."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        child = stat(int(entry.name))
        if child is not None and child.parent == pid:
            found.add(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """The process's command line, its arguments separated by spaces; "" once it is gone."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return arguments.replace(b"\0", b" ").decode(errors="replace")

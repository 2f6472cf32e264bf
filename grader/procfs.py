"""What Linux's /proc says about a process: its state, its parent, its CPU time, its children,
its memory; and about the machine: how long its tasks have waited for a CPU.

One reader for the grader's servers (is the app busy or asleep?), gunicorn's master and workers,
Celery's pool, the course's reaper, the checks' time limits and the capstone's memory check.
Where there is no /proc, a process has no stat, so it reads as gone, and has no children, no
memory, and no task ever waited: callers say what they do then.
"""

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
"""The unit of /proc's CPU times, per second."""
CPU_PRESSURE = Path("/proc/pressure/cpu")
"""Linux's pressure stall information for CPUs (4.20 and later): its first line reads
`some avg10=0.60 avg60=5.28 avg300=3.25 total=14864394`, the total in microseconds."""


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


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory (VmRSS: its pages in RAM, what a container's memory limit
    counts), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # in kB
    return None


def cpu_waited_seconds() -> float:
    """Seconds since boot during which at least one task was ready to run but waited for a CPU:
    the time a machine had more work than CPUs. 0.0 where the kernel does not keep it."""
    try:
        some = CPU_PRESSURE.read_text().splitlines()[0]
        return int(some.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0

"""`python -m tests.reaper REPORT COMMAND...`: run COMMAND and catch whatever it leaves running.

This process is a child subreaper (Linux's PR_SET_CHILD_SUBREAPER): every process that COMMAND
starts and leaves behind, however it detached itself (setsid, double fork), becomes a child of
this one instead of init. Once COMMAND has ended, the command lines of those still running after
a grace time go to REPORT as a JSON list; they are then killed. The exit status is COMMAND's.
Ctrl-C (SIGINT to the process group) is COMMAND's alone: this process waits on.
"""

import contextlib
import ctypes
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader import procfs

PR_SET_CHILD_SUBREAPER = 36
GRACE = 3.0
"""A process killed with its parent takes a moment to go."""


def reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def children() -> dict[int, str]:
    """This process's children, by pid: their command lines."""
    return {pid: procfs.command_line(pid) for pid in procfs.children(os.getpid())}


def main() -> None:
    report, *command = sys.argv[1:]
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interruptible = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    status = subprocess.run(command, preexec_fn=interruptible).returncode
    deadline = time.monotonic() + GRACE
    while (left := children()) and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
    Path(report).write_text(json.dumps(sorted(left.values())))
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    reap()
    sys.exit(status)


if __name__ == "__main__":
    main()

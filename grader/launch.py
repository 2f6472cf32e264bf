"""Start a learner's app under uvicorn, with what graders need installed first.

Run as `python -m grader.launch APP [uvicorn options]`. Before uvicorn imports the app it makes
sure that:
- the server dies with the grader that started it, even a grader killed with SIGKILL;
- SIGUSR1 dumps every thread's stack, so a grader can say where a hanging app is stuck;
- each time.sleep call is logged with whether it ran on the event loop's thread, when
  GRADER_SLEEP_LOG names a file (how Lab 3 tells a worker thread from an asyncio.sleep rewrite).
"""

import asyncio
import ctypes
import faulthandler
import json
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process when the grader that spawned it goes away."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(os.environ.get("GRADER_PARENT_PID", os.getppid())):
        os._exit(1)  # the grader died before prctl took effect


def log_sleeps(path: str) -> None:
    """Wrap time.sleep to append one JSON line per call to `path`."""
    real_sleep = time.sleep
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def sleep(seconds: float, /) -> None:
        try:
            asyncio.get_running_loop()
            on_event_loop = True
        except RuntimeError:
            on_event_loop = False
        record = {
            "seconds": seconds,
            "on_event_loop": on_event_loop,
            "thread": threading.current_thread().name,
        }
        os.write(log, (json.dumps(record, default=str) + "\n").encode())
        real_sleep(seconds)

    time.sleep = sleep


def main() -> None:
    die_with_parent()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if sleep_log := os.environ.get("GRADER_SLEEP_LOG"):
        log_sleeps(sleep_log)

    from uvicorn.main import main as uvicorn_main

    sys.argv[0] = "uvicorn"
    uvicorn_main()


if __name__ == "__main__":
    main()

"""The fork server: imports FastAPI and uvicorn once, then forks a server per request.

A server started as a process of its own spends half a second of CPU importing FastAPI, uvicorn
and pydantic (two seconds more with the Anthropic SDK) before the learner's code runs, and a
grading starts a dozen servers, a class batch hundreds. A fork of this process goes straight to
the learner's app. The grader starts it and sends it requests (grader/processes.py): one message
per server, holding its command (uvicorn or gunicorn, and options), folder, environment and
modules to import first, with two file descriptors: where the server's output goes, and a socket
on which the server sends its pid once it leads a session of its own, and this process its exit
status when it ends.

It exits when the grader's end of the socket pair closes (the grader ended, even killed), and its
servers die with it (PDEATHSIG, grader/launch.py).

A grader that grades many labs' copies in a row (`make test`, tests/conftest.py) may start one
with `--template` instead, and the lab's modules to import: it imports them once, then forks a
fork server for each grading that asks (grader/processes.py, TEMPLATE). That fork server is what
the grading would have started, without the imports (1.9 CPU-s for Lab 9's, 0.3 for FastAPI's).

In class grading's sandbox it runs as the servers' own user (grader/sandbox.py), started with
`--app-user`: then no server may trace it, read its memory or take its descriptors (the socket to
the grader, the other servers' status sockets), although they run as the same user; and when
the sandbox's memory runs out, the kernel stops it and its servers first, not the grader.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from grader import launch
from grader.processes import MESSAGE_SIZE

# What every lab's server imports (each app has one pydantic-settings Settings), and what uvicorn
# picks at run time: its loop and protocols.
ALWAYS_PRELOADED = (
    "fastapi",
    "pydantic_settings",
    "uvicorn.main",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)


_called: set[str] = set()
"""The `module:function` entries of the preloads whose function has run."""


def preload(modules: Iterable[str]) -> None:
    """Import each module; for an entry `module:function`, call the function too, once: work that
    every server would otherwise repeat (grader/helpdesk.py's `embed_ahead`). Where an import or
    that work fails, the servers do it themselves, and the app's own traceback says why: the fork
    server goes on."""
    for entry in modules:
        module, _, function = entry.partition(":")
        with contextlib.suppress(Exception):
            imported = importlib.import_module(module)
            if function and entry not in _called:
                _called.add(entry)
                getattr(imported, function)()


def serve(control: socket.socket) -> None:
    """Fork a server per request until the grader closes its end."""
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd: (pid, status socket)
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is not control:
                    selector.unregister(key.fd)
                    _report_exit(key.fd, *running.pop(key.fd))
                    continue
                message, fds, _, _ = socket.recv_fds(control, MESSAGE_SIZE, 2)
                if not message:
                    return
                request = json.loads(message)
                status, output = socket.socket(fileno=fds[0]), fds[1]
                preload(request["preload"])
                gc.freeze()  # see main()
                parent = os.getpid()
                try:
                    pid = os.fork()
                except OSError:  # out of memory or processes: this server fails, not the others
                    status.close()
                    os.close(output)
                    continue
                if pid == 0:
                    selector.close()  # the child keeps none of the fork server's descriptors
                    control.close()
                    for pidfd, (_, other) in running.items():
                        os.close(pidfd)
                        other.close()
                    _become_server(request, status, output, parent)
                os.close(output)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, status)
                selector.register(pidfd, selectors.EVENT_READ)


def _report_exit(pidfd: int, pid: int, status: socket.socket) -> None:
    os.close(pidfd)
    _, wait_status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError), status:  # the grader may have stopped listening
        status.send(json.dumps({"exit": os.waitstatus_to_exitcode(wait_status)}).encode())


def _become_server(
    request: dict[str, Any], status: socket.socket, output: int, parent: int
) -> NoReturn:
    """In the child: the server process `python -m grader.launch` would be, from here on."""
    code = 1
    try:
        os.setsid()  # a session and process group of its own, as for start_new_session
        launch.die_with_parent(parent)
        launch.set_dumpable(True)  # a process like any other, whatever the fork server is
        os.dup2(output, 1)  # stdin is the fork server's: /dev/null
        os.dup2(output, 2)
        os.close(output)
        with status:
            status.send(json.dumps({"pid": os.getpid()}).encode())
        signal.signal(signal.SIGINT, signal.default_int_handler)
        gc.enable()  # the server collects its garbage as any process does
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again, from the server's TMPDIR, not the fork server's
        sys.path[0] = os.getcwd()  # as `python -m` has it
        code = launch.run(request["command"])
    except BaseException:
        sys.excepthook(*sys.exc_info())
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve_from_template(listener: socket.socket) -> None:
    """Fork a fork server for each grader that connects to `listener` and sends the end of its
    control socket pair, and answer with the new fork server's pid; until the process that
    started this one ends (PDEATHSIG). The forks are not the graders' children: a grader tells
    that one has ended from a pidfd, and the kernel reaps them."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        connection, _ = listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 1, 1)
            if not fds:
                continue
            try:
                pid = os.fork()
            except OSError:  # the grader is told by the connection closing
                os.close(fds[0])
                continue
            if pid == 0:
                listener.close()
                connection.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # it waits for its own servers
                _serve_forked(socket.socket(fileno=fds[0]))
            os.close(fds[0])
            connection.sendall(str(pid).encode())


def _serve_forked(control: socket.socket) -> NoReturn:
    code = 0
    try:
        serve(control)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    finally:
        os._exit(code)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    # Python's own advice for a process that forks without exec: no garbage collection here, and
    # what was imported frozen before each fork. A server's collections then never visit those
    # objects, nor write to their pages: each server shares them instead of copying them.
    gc.disable()
    if sys.argv[1] == "--template":  # --template LISTENER_FD [MODULE...]
        launch.die_with_parent(os.getppid())
        preload([*ALWAYS_PRELOADED, *sys.argv[3:]])
        serve_from_template(socket.socket(fileno=int(sys.argv[2])))
        return
    if "--app-user" in sys.argv[2:]:
        Path("/proc/self/oom_score_adj").write_text("1000")  # inherited by its servers
        launch.set_dumpable(False)  # last: /proc/self is then root's
    control = socket.socket(fileno=int(sys.argv[1]))
    preload(ALWAYS_PRELOADED)
    serve(control)


if __name__ == "__main__":
    main()

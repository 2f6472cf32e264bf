"""Class grading's sandbox: each submission graded where its code can neither cheat nor harm.

`python -m grader batch` runs code written by students the instructor does not control. On Linux,
as root, each submission is graded inside a sandbox of its own, built by bubblewrap (`bwrap`, the
sandbox behind Flatpak) from Linux namespaces:

- a filesystem of its own (mount namespace) holding only what grading needs: the system's /usr,
  the Python interpreter and the course's environment, `grader/`, `minilm/` (the embedding model
  Lab 9's apps import), the lab's checks, course.toml and pyproject.toml, all read-only; a private
  copy of that one submission, read-only (each server runs on a writable copy of it in /tmp, as on
  a learner's machine); a /tmp and a /dev/shm of its
  own, each a tmpfs of limited size. The solutions, the course's tests, the other submissions,
  the instructor's home and the grades are not there at all, nor the batch's environment;
- processes of its own (PID namespace): when the grading ends, everything it started ends,
  whatever it did to get away (setsid, double fork, daemonize);
- a network of its own (network namespace) with nothing but loopback: servers and checks talk over
  the sandbox's own 127.0.0.1, and abstract unix sockets are the sandbox's own too;
- System V IPC, POSIX message queues, a hostname and a cgroup view of its own.

Inside, the grader and the learner's app run as two users of their own (`Users`):

- bwrap's init runs as root with no capability. The first process, `enter()`, runs as root with
  CAP_SETUID, CAP_SETGID and CAP_KILL alone: it starts the fork server as the app's user, then
  becomes the grader (pytest) as the grader's user, keeping CAP_KILL only, to stop servers of
  another user.
- The fork server and every server it forks run as the app's user, with no capability at all.
  The grader starts servers through it alone (grader/processes.py): it has no right to change
  user, so it cannot start one as itself by mistake.

Why two users: Linux lets a process trace, read the memory and file descriptors of, and signal
any process of its own user. As another user, the app can do none of that to the grader, whose
results go to the batch over a pipe only the grader holds (`--results-fd`), never through a file.
The app's user is in the grader's group: that is how servers use the copies the grader makes.
Why not keep the grader outside and reach the app through the sandbox: the grader copies the
submission and reads what the app writes; inside, a symbolic link planted by a student leads
nowhere but the sandbox, where outside it could lead to the solution or the instructor's files.

Limits: the memory each process may write (RLIMIT_DATA, as without a sandbox); the processes and
threads the app's user runs at once (RLIMIT_NPROC, set on the fork server: Linux counts them per
user, hence users of a grading's own, and the grader's browser is not bound by it); the size of
/tmp and /dev/shm, and of any file written (RLIMIT_FSIZE); wall-clock time (the batch kills the
sandbox, and everything in it dies with it). Where there are cgroups (grader/cgroups.py), each
sandbox also has one share of the CPU, however many processes it runs, and a memory limit for
all of them together; the app's processes are the first the kernel stops when it runs out.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from grader.cgroups import Cgroup, Cgroups
from grader.manifest import ROOT, Lab
from grader.processes import ForkServer

SUBMISSIONS = Path("/submissions")
"""Where a sandbox shows its submission: /submissions/STUDENT."""
SHM_MB = 64
NOT_PROTECTED = (
    "Grading without a sandbox: each submission's code runs as you, on your machine. It can read "
    "the reference solutions and the other submissions, change any file you may change (grades "
    "included), reach your network, read your environment variables and leave processes running "
    "after the batch. Only the time and memory limits apply. Grade this way only code you trust."
)
NO_CGROUPS = (
    "Each submission is limited process by process, not as a whole: one that runs many busy "
    "processes can slow the others graded beside it, and their timing checks; one that takes "
    "memory in many processes can take the machine's. Cgroups, which the sandbox would use, "
    "cannot be made here"
)
ETC = {
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}
"""Generated files of the sandbox's /etc: names resolve from them, never through a DNS server."""
HOST_ETC = ("ld.so.cache", "localtime", "fonts", "chromium", "chromium.d")
"""The host's own /etc files a sandbox shows: the dynamic linker's cache, the time zone, and what
the system's Chromium reads (the browser Lab 2's check drives)."""


class SubmissionRefused(Exception):
    """A submission the sandbox will not take as it is (the message says why): graded 0."""


class Users:
    """The two users a grading runs as, claimed for it alone on this machine.

    RLIMIT_NPROC counts every process of a user, so a grading under way, in this batch or another,
    never shares its users with another one: each pair is claimed by locking a file.
    """

    FIRST = 1_900_000_000
    """Far above the users of any real system (and of subordinate uid ranges)."""
    PAIRS = 1024
    LOCKS = Path("/run/production-fastapi/sandbox-users")

    @classmethod
    @contextlib.contextmanager
    def claim(cls) -> Iterator[tuple[int, int]]:
        """The grader's user and the app's (each also a group: the app's user is in the
        grader's), until the block ends."""
        cls.LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
        for pair in range(cls.PAIRS):
            lock = os.open(cls.LOCKS / str(pair), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            try:
                yield cls.FIRST + 2 * pair, cls.FIRST + 2 * pair + 1
            finally:
                os.close(lock)
            return
        raise RuntimeError(f"All {cls.PAIRS} pairs of sandbox users are in use")


@dataclass(frozen=True)
class Started:
    """What a grading in a sandbox is started with."""

    command: list[str]
    pass_fds: tuple[int, ...]
    env: dict[str, str]
    cgroup: Cgroup | None = None
    """The cgroup its first process joins before it starts, where there are cgroups."""


def unavailable() -> str | None:
    """Why submissions cannot be sandboxed on this machine, if they cannot."""
    if sys.platform != "linux":
        return f"the sandbox is built from Linux namespaces, and this is {sys.platform}"
    if os.geteuid() != 0:
        return "the sandbox runs each submission as users of its own, which takes root (sudo)"
    for tool, package in (
        ("bwrap", "bubblewrap"),
        ("setpriv", "util-linux"),
        ("prlimit", "util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is missing: install Debian's {package} package (`make system-packages`)"
    with Sandbox(None, tmp_mb=16, processes=16, memory_mb=512) as sandbox:
        return sandbox.trial()


class Sandbox:
    """The sandboxes of one batch, one per grading: what they all show, and a scratch folder on
    the host (private to root) for their generated files and the submissions' private copies."""

    def __init__(self, lab: Lab | None, *, tmp_mb: int, processes: int, memory_mb: int) -> None:
        self.lab = lab
        """The lab whose checks it shows (none: a trial sandbox, to see that one works here)."""
        self.tmp_mb = tmp_mb
        """The size of its /tmp (and of its /dev/shm, up to SHM_MB)."""
        self.processes = processes
        """How many processes and threads the app's user may run at once."""
        self.memory_mb = memory_mb
        """The memory of all its processes together, where there are cgroups."""
        found = Cgroups.find()
        self.cgroups = found if isinstance(found, Cgroups) else None
        self.without_cgroups = found if isinstance(found, str) else None
        """Why there are no cgroups, if there are none."""
        self._scratch = Path(tempfile.mkdtemp(prefix="grader-batch-"))

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exception: object) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    @contextlib.contextmanager
    def around(self, folder: Path, grader: list[str]) -> Iterator[Started]:
        """How to run `grader` (a command whose submission is `inside(folder)`) in a sandbox
        of its own, with its own users and a private copy of `folder`, until the block ends.
        Raises SubmissionRefused for a submission it will not take as it is."""
        with Users.claim() as (grader_user, app_user), self._cgroup(grader_user) as cgroup:
            copy = self._scratch / f"{grader_user}-submission"
            try:
                private_copy(folder, copy, self.tmp_mb * 1024 * 1024)
                submission = (copy, inside(folder))
                started = self._started(grader_user, app_user, submission, grader, cgroup)
                try:
                    yield started
                finally:
                    for fd in started.pass_fds:
                        os.close(fd)
            finally:
                shutil.rmtree(copy, ignore_errors=True)

    def _cgroup(self, grader_user: int) -> contextlib.AbstractContextManager[Cgroup | None]:
        if self.cgroups is None:
            return contextlib.nullcontext()
        name = f"production-fastapi-sandbox-{grader_user}"
        return self.cgroups.sandbox(name, memory_mb=self.memory_mb)

    def stopped(self, errors: list[str], cgroup: Cgroup | None) -> str | None:
        """What the sandbox stopped, if its cgroup or the error messages show it."""
        if cgroup is not None and cgroup.out_of_memory():
            return f"its processes ran out of memory: {self.memory_mb} MB for all of them"
        processes = f"at most {self.processes} processes and threads at once"
        signs = {
            f"[Errno {errno.EAGAIN}]": processes,
            "can't start new thread": processes,
            f"[Errno {errno.ENOSPC}]": f"its /tmp ({self.tmp_mb} MB) was full",
            f"[Errno {errno.EFBIG}]": f"no file over {self.tmp_mb} MB",
            f"[Errno {errno.EROFS}]": "it may write only in /tmp and in its servers' copies",
            f"[Errno {errno.EACCES}]": "it may not read or change what is not its own",
            f"[Errno {errno.EPERM}]": "it may not signal or trace what it did not start",
        }
        return next((what for sign, what in signs.items() if any(sign in e for e in errors)), None)

    def trial(self) -> str | None:
        """Why a sandbox fails here, if it does: one tried with the course's environment."""
        with Users.claim() as (grader_user, app_user):
            command = [sys.executable, "-c", "import grader.plugin"]
            started = self._started(grader_user, app_user, None, command)
            trial = subprocess.run(
                started.command,
                pass_fds=started.pass_fds,
                env=started.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
        for fd in started.pass_fds:
            os.close(fd)
        if trial.returncode != 0:
            last = (trial.stdout + trial.stderr).strip().splitlines()[-1:] or ["no output"]
            return f"bubblewrap could not build a sandbox here ({last[0]})"
        return None

    def _started(
        self,
        grader_user: int,
        app_user: int,
        submission: tuple[Path, Path] | None,
        grader: list[str],
        cgroup: Cgroup | None = None,
    ) -> Started:
        """bwrap reads its options from a pipe: the sandbox's processes cannot learn the machine's
        paths from the command line of bwrap's init, which they see."""
        options = [
            *self._namespaces(),
            *self._filesystem(grader_user, app_user, submission),
            "--remount-ro", "/",
            *self._environment(),
            "--chdir", str(ROOT),
        ]  # fmt: skip
        fds = []
        if (seccomp := seccomp_filter()) is not None:
            fds.append(_pipe(seccomp))
            options += ["--seccomp", str(fds[-1])]
        fds.append(_pipe(b"".join(option.encode() + b"\0" for option in options)))
        users = [str(grader_user), str(app_user), str(self.processes)]
        first = [sys.executable, "-m", "grader.sandbox", *users]
        bwrap = [shutil.which("bwrap") or "bwrap", "--args", str(fds[-1])]
        return Started([*bwrap, "--", *first, "--", *grader], tuple(fds), {}, cgroup)

    @staticmethod
    def _namespaces() -> list[str]:
        return [
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "grader",
            "--die-with-parent", "--new-session",
            "--cap-drop", "ALL",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL",
        ]  # fmt: skip

    def _filesystem(
        self, grader_user: int, app_user: int, submission: tuple[Path, Path] | None
    ) -> list[str]:
        """What the sandbox shows, all read-only: the system, the course's environment, the
        submission's private copy (at `submission`'s second path), and a tmpfs for /tmp and
        /dev/shm. The folders that lead to them are made readable by every user (bwrap makes
        them for root alone)."""
        links, binds = [], []
        for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", name)
            if path.is_symlink():  # a merged /usr: /bin -> usr/bin
                links += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                binds.append(("--ro-bind", path, path))
        binds += [("--ro-bind-try", Path("/etc", name), Path("/etc", name)) for name in HOST_ETC]
        etc = self._etc(grader_user, app_user)
        binds += [("--ro-bind", path, Path("/etc", name)) for name, path in etc.items()]
        binds += [("--ro-bind", path, path) for path in self._course()]
        if submission is not None:
            binds.append(("--ro-bind", *submission))
        parents = sorted({parent for *_, to in binds for parent in to.parents} - {Path("/")})
        mb = 1024 * 1024
        # The tmpfs first, the binds over them: a course checked out under /tmp stays visible.
        return [
            *links,
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--size", str(min(SHM_MB, self.tmp_mb) * mb), "--tmpfs", "/dev/shm",
            "--perms", "1777", "--size", str(self.tmp_mb * mb), "--tmpfs", "/tmp",
            *(option for parent in parents for option in ("--perms", "0755", "--dir", str(parent))),
            *(str(option) for bind in binds for option in bind),
        ]  # fmt: skip

    def _etc(self, grader_user: int, app_user: int) -> dict[str, Path]:
        """The sandbox's /etc files: its users (passwd, group) and how names resolve."""
        folder = self._scratch / f"{grader_user}-etc"
        if not folder.exists():
            folder.mkdir()
            users = {
                "passwd": f"root:x:0:0::/tmp:/usr/sbin/nologin\n"
                f"grader:x:{grader_user}:{grader_user}::/tmp:/usr/sbin/nologin\n"
                f"learner:x:{app_user}:{grader_user}::/tmp:/usr/sbin/nologin\n",
                "group": f"root:x:0:\ngrader:x:{grader_user}:\n",
            }
            for name, text in {**ETC, **users}.items():
                (folder / name).write_text(text)
                (folder / name).chmod(0o644)
            folder.chmod(0o755)
        return {name: folder / name for name in [*ETC, "passwd", "group"]}

    def _course(self) -> list[Path]:
        """What of the course a grading reads: the interpreter and its environment, the grader,
        the course's embedding model that apps import (minilm/), the manifest, pytest's
        configuration and the lab's checks (not its starter app)."""
        prefixes = {Path(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
        paths = [
            *(p for p in prefixes if not any(p.is_relative_to(q) for q in prefixes - {p})),
            ROOT / "grader",
            ROOT / "minilm",
            ROOT / "course.toml",
            ROOT / "pyproject.toml",
        ]
        if self.lab is not None:
            paths += sorted(self.lab.workspace.glob("test_*.py"))
            paths += sorted(self.lab.workspace.glob("conftest.py"))
        return [path for path in paths if not path.is_relative_to("/usr")]

    @staticmethod
    def _environment() -> list[str]:
        """Nothing of the batch's environment (an instructor's API keys, say) but the time
        scale."""
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if scale := os.environ.get("COURSE_TIME_SCALE"):
            env["COURSE_TIME_SCALE"] = scale
        arguments = ["--clearenv"]
        for name, value in env.items():
            arguments += ["--setenv", name, value]
        return arguments


# A seccomp filter (Berkeley Packet Filter) for the whole sandbox: what no grading needs and an
# attacker would, refused. New namespaces (unshare, setns, clone with CLONE_NEW*): user namespaces
# are where the kernel's bugs lie most. Kernel keyrings: not namespaced, they would carry data
# from one grading to a later one of the same user. System V shared memory and message queues:
# memory that no process's limit counts. Tracing and other processes' memory, mounts, and
# little-used kernel interfaces (bpf, perf, userfaultfd, io_uring). clone3 says it does not
# exist, as Docker's filter does: the C library then uses clone, whose flags can be checked.
_ARCH = {  # machine: (AUDIT_ARCH_*, clone, clone3, {system call: number})
    "x86_64": (0xC000003E, 56, 435, {
        "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165,
        "umount2": 166, "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsmount": 432, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "shmget": 29, "msgget": 68,
    }),
    "aarch64": (0xC00000B7, 220, 435, {
        "unshare": 97, "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsmount": 432, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "io_uring_setup": 425, "shmget": 194, "msgget": 186,
    }),
}  # fmt: skip
_X32 = 0x40000000
"""x86_64's other ABI: refused whole."""
_NEW_NAMESPACES = 0x7E020000
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET."""
_LOAD, _JEQ, _JGE, _JSET, _RETURN = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38


def seccomp_filter() -> bytes | None:
    """The filter, as bwrap's --seccomp reads it; None on a machine it does not know."""
    if (known := _ARCH.get(platform.machine())) is None:
        return None
    arch, clone, clone3, refused = known
    program = [
        (_LOAD, 0, 0, 4),  # the architecture: another one (i386 on x86_64) is refused whole
        (_JEQ, 1, 0, arch),
        (_RETURN, 0, 0, _ERRNO | _ENOSYS),
        (_LOAD, 0, 0, 0),  # the system call's number
        (_JGE, 0, 1, _X32),
        (_RETURN, 0, 0, _ERRNO | _ENOSYS),
        (_JEQ, 0, 1, clone3),
        (_RETURN, 0, 0, _ERRNO | _ENOSYS),
    ]
    for number in refused.values():
        program += [(_JEQ, 0, 1, number), (_RETURN, 0, 0, _ERRNO | _EPERM)]
    program += [
        (_JEQ, 0, 3, clone),
        (_LOAD, 0, 0, 16),  # clone's flags: its first argument's low 32 bits
        (_JSET, 0, 1, _NEW_NAMESPACES),
        (_RETURN, 0, 0, _ERRNO | _EPERM),
        (_RETURN, 0, 0, _ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def _pipe(data: bytes) -> int:
    """The reading end of a pipe holding `data` (which fits in its buffer), for bwrap."""
    read, write = os.pipe()
    with open(write, "wb") as pipe:
        pipe.write(data)
    return read


def inside(folder: Path) -> Path:
    """Where the sandbox shows a student's folder."""
    return SUBMISSIONS / folder.name


def private_copy(folder: Path, copy: Path, most: int) -> None:
    """Copy a submission: its folders, regular files (readable by every user) and symbolic links
    within it (as links), nothing else: no device, no pipe, no link out of it (to the solution,
    say, which is not in the sandbox). Each file counts at least a page, as on the sandbox's
    tmpfs; a submission of more than `most` bytes is refused: each of its servers copies it again
    into the sandbox's /tmp, no bigger."""
    if folder.is_symlink():
        raise SubmissionRefused(f"{folder.name} is a symbolic link, not a folder")
    left = most
    pending = [(folder, copy)]
    while pending:
        source, target = pending.pop()
        target.mkdir(mode=0o755)
        with os.scandir(source) as entries:
            for entry in entries:
                into = target / entry.name
                left -= max(entry.stat(follow_symlinks=False).st_size, 4096)
                if left < 0:
                    raise SubmissionRefused(
                        f"the submission is larger than the sandbox's /tmp ({most >> 20} MB)"
                    )
                if entry.is_symlink():
                    if _within(Path(entry.path), folder):
                        os.symlink(os.readlink(entry.path), into)
                elif entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), into))
                elif entry.is_file(follow_symlinks=False):
                    shutil.copyfile(entry.path, into, follow_symlinks=False)
                    executable = entry.stat(follow_symlinks=False).st_mode & stat.S_IXUSR
                    into.chmod(0o755 if executable else 0o644)


def _within(link: Path, folder: Path) -> bool:
    """Whether a symbolic link leads into `folder`, as far as its own text says."""
    target = os.readlink(link)
    if os.path.isabs(target):
        return False
    led_to = os.path.normpath(os.path.join(link.parent.relative_to(folder), target))
    return led_to != ".." and not led_to.startswith("../")


def enter(grader_user: int, app_user: int, processes: int, grader: list[str]) -> NoReturn:
    """The sandbox's first process, as its root: start the fork server as the app's user, with no
    capability at all and at most `processes` processes and threads of that user at once, then
    become `grader` as the grader's user, keeping CAP_KILL alone, to stop servers. util-linux's
    prlimit and setpriv set the limit, and change users and capabilities."""
    prlimit, setpriv = shutil.which("prlimit") or "prlimit", shutil.which("setpriv") or "setpriv"
    as_app = [
        prlimit, f"--nproc={processes}", "--",
        setpriv, f"--reuid={app_user}", f"--regid={grader_user}", "--clear-groups",
        "--inh-caps=-all", "--",
    ]  # fmt: skip
    fork_server = ForkServer.start(as_user=as_app, umask=0o007)
    env = {**os.environ, **fork_server.hand_over()}
    os.execve(
        setpriv,
        [
            setpriv, f"--reuid={grader_user}", f"--regid={grader_user}", "--clear-groups",
            "--inh-caps=-all,+kill", "--ambient-caps=+kill", "--", *grader,
        ],
        env,
    )  # fmt: skip


if __name__ == "__main__":
    grader_user, app_user, processes, _, *command = sys.argv[1:]
    enter(int(grader_user), int(app_user), int(processes), command)

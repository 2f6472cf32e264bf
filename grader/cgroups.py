"""A cgroup for each sandbox: its share of the CPU, and a limit on its memory as a whole.

Per-process limits cannot stop a submission that runs a hundred busy processes, or a hundred
that each take a little memory: the first would starve the other submissions graded beside it
(their timing checks measure a busy machine), the second the machine. A cgroup of its own gives
each sandbox one share of the CPU, however many processes it runs, and one memory limit for all
of them together, counting shared memory and files in its tmpfs (Linux's OOM killer then stops a
process of that sandbox alone: the app's first, see grader/forkserver.py).

Cgroups v1 (a hierarchy per controller, as on these machines) and v2 (one hierarchy) both work.
With v1, a sandbox's cgroups sit under the batch's own, so that any limit on the batch still
holds; with v2, under the root, the only place v2 lets controllers be given to new cgroups
whatever else runs beside the batch. Where cgroups cannot be made (a container), `Cgroups.find()`
says why and the batch warns that this protection is missing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("cpu", "memory")
CPU_WEIGHT = 8
"""A sandbox's share of the CPU, in ordinary processes: about what a grading's processes would
weigh without a cgroup (the grader, and the servers of the checks it runs at once), so that it
gets no less of a busy machine than it would unsandboxed. Sandboxes weigh the same, whatever
they run."""
V2_PARENT = "production-fastapi"
REMOVE_WITHIN = 2.0
"""Seconds for the last processes of a finished sandbox to leave its cgroup."""


@dataclass(frozen=True)
class Cgroups:
    """Where this machine's cgroups are made: one folder per controller (the same folder for
    both, with v2), under which each sandbox gets folders of its own."""

    parents: dict[str, Path]
    v2: bool

    @classmethod
    def find(cls) -> Cgroups | str:
        """This machine's cgroups for sandboxes, or why there are none to make."""
        mounts = _mounts()
        if not mounts:
            return "this system has no cgroups"
        if "v2" in mounts and not {"cpu", "memory"} - set(_v2_controllers(mounts["v2"])):
            parent = mounts["v2"] / V2_PARENT
            try:
                parent.mkdir(exist_ok=True)
                (parent / "cgroup.subtree_control").write_text("+cpu +memory")
            except OSError as error:
                return f"cgroups cannot be made here ({error.strerror}: {error.filename})"
            return cls(dict.fromkeys(CONTROLLERS, parent), v2=True)
        if missing := [name for name in CONTROLLERS if name not in mounts]:
            return f"this system's cgroups have no {' or '.join(missing)} controller"
        own = _own_cgroups()
        parents = {name: mounts[name] / own.get(name, "").lstrip("/") for name in CONTROLLERS}
        if not all(os.access(folder, os.W_OK) for folder in parents.values()):
            return "cgroups cannot be made here (read-only)"
        return cls(parents, v2=False)

    @contextlib.contextmanager
    def sandbox(self, name: str, *, memory_mb: int) -> Iterator[Cgroup]:
        """A cgroup named `name` (one per grading under way), with `memory_mb` for everything
        in it together, until the block ends: then removed, once the sandbox is gone."""
        cgroup = Cgroup({controller: parent / name for controller, parent in self.parents.items()})
        cgroup.remove()  # one a batch stopped dead left behind, with the limits of its own
        for folder in set(cgroup.folders.values()):
            folder.mkdir()
        try:
            cgroup.limit(memory_mb, self.v2)
            yield cgroup
        finally:
            cgroup.remove()


@dataclass(frozen=True)
class Cgroup:
    folders: dict[str, Path]
    """Its folder for each controller (the same one, with v2)."""

    def limit(self, memory_mb: int, v2: bool) -> None:
        """Its share of the CPU, and all its processes' memory together, its tmpfs files
        included, with no swap beyond."""
        memory = str(memory_mb * 1024 * 1024)
        if v2:
            cpu = {"cpu.weight": str(100 * CPU_WEIGHT)}
            limits = {"memory.max": memory, "memory.swap.max": "0"}
        else:
            cpu = {"cpu.shares": str(1024 * CPU_WEIGHT)}
            limits = {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory}
        for controller, files in (("cpu", cpu), ("memory", limits)):
            for name, value in files.items():
                path = self.folders[controller] / name
                if path.exists():  # the swap files exist where swap is accounted for
                    path.write_text(value)

    def join(self) -> None:
        """Move this process into the cgroup: called in a sandbox's first process, before it
        starts (every process it starts then belongs to the cgroup too)."""
        for folder in set(self.folders.values()):
            (folder / "cgroup.procs").write_text("0")

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the cgroup for want of memory: oom_kill in
        v2's memory.events, or v1's memory.oom_control."""
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError):
                text = (self.folders["memory"] / name).read_text()
                counts = dict(line.split() for line in text.splitlines())
                return int(counts.get("oom_kill", 0)) > 0
        return False

    def kill(self) -> None:
        """SIGKILL every process in it: with v2, at once (cgroup.kill); with v1, each one listed
        in cgroup.procs, until none is left (one may fork as the others die)."""
        folder = self.folders["memory"]
        if (folder / "cgroup.kill").exists():
            (folder / "cgroup.kill").write_text("1")
            return
        deadline = time.monotonic() + REMOVE_WITHIN
        while (pids := (folder / "cgroup.procs").read_text().split()) and (
            time.monotonic() < deadline
        ):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is still in it, then remove it."""
        with contextlib.suppress(OSError):  # already removed, or never made
            self.kill()
        deadline = time.monotonic() + REMOVE_WITHIN
        for folder in set(self.folders.values()):
            while folder.exists():
                try:
                    folder.rmdir()
                except OSError:  # busy: processes killed with the sandbox are still leaving
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def _mounts() -> dict[str, Path]:
    """Where each cgroup v1 controller's hierarchy is mounted, and the v2 hierarchy ("v2")."""
    found: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            separator = fields.index("-")
            kind, options = fields[separator + 1], fields[separator + 3].split(",")
            if kind == "cgroup2":
                found.setdefault("v2", Path(fields[4]))
            elif kind == "cgroup":
                for name in set(options) & set(CONTROLLERS):
                    found[name] = Path(fields[4])
    return found


def _v2_controllers(root: Path) -> list[str]:
    try:
        return (root / "cgroup.subtree_control").read_text().split()
    except OSError:
        return []


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup in each v1 hierarchy, by controller."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            own[name] = path
    return own

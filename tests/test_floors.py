"""pyproject.toml's version floors are as high as the lessons need: no lesson or example uses an
API, or describes a behaviour, newer than the oldest release the project accepts.

Two checks, one cheap and one thorough:

- `test_floors_cover_what_the_course_names`: install-free. A small table of the APIs and
  behaviours the course names, with the release that brought each; wherever a lesson or an
  example names one, its package's floor must be at least that release.
- `test_examples_pass_on_the_floor_versions`: the examples' own tests, run in a second virtual
  environment holding exactly the floor of every direct dependency the examples import (the rest
  as uv resolves them), as `uv pip install --resolution lowest-direct` does. This one catches
  what the table does not know about. It needs the package index (uv installs from its cache
  what the project's own install fetched, and fetches the rest): without it, it skips, except in
  CI, which must run it. The environment is kept in .venv-floors/ and rebuilt when a floor
  changes.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from grader.manifest import ROOT

FLOORS_VENV = ROOT / ".venv-floors"
EXAMPLES = ROOT / "examples"
TEXTS = [*sorted((ROOT / "docs").rglob("*.md")), *sorted(EXAMPLES.rglob("*.py"))]

# What the course names, and the release of its package that brought it (read in each release's
# source: `pip download --no-deps PACKAGE==VERSION`).
ADDED_IN = [
    ("fastapi", "0.121.0", r"Depends\([^)]*\bscope=", "Depends(..., scope=...)"),
    ("pydantic-settings", "2.7.0", r"\bNoDecode\b", "NoDecode"),
    ("starlette", "1.7.0", r"\bVary\b", "Vary: Origin on CORS answers to any origin"),
    ("starlette", "0.48.0", r"HTTP_422_UNPROCESSABLE_CONTENT", "that name for status 422"),
    ("uvicorn", "0.53.0", r"127\.0\.0\.1,::1", "forwarded headers trusted from ::1 by default"),
    ("uvicorn", "0.29.0", r"exit status 143|re-raises the SIGTERM", "re-raising SIGTERM on exit"),
    ("asgi-lifespan", "2.1.0", r"\bLifespanManager\b", "LifespanManager passing lifespan state"),
    ("pyjwt", "2.11.0", r"\bInsecureKeyLengthWarning\b", "the warning for short HMAC keys"),
    ("fastapi", "0.142.0", r"\btelemetry=", "FastAPI(telemetry=...), its native telemetry"),
    ("stamina", "25.2.0", r"\bbackoff hook\b", "a backoff hook returning the pause itself"),
    ("kombu", "5.7.0", r"\bunacked_restore_(interval|throttle)\b", "the Redis restore's options"),
    ("celery", "5.7.0", r"\btask_retry_on_worker_lost\b", "task_retry_on_worker_lost"),
    ("gunicorn", "25.1.0", r"--no-control-socket", "the master's control socket"),
    ("fastapi", "0.135.0", r"\bfastapi\.sse\b", "fastapi.sse, its server-sent events"),
    ("anthropic", "0.108.0", r"\bOverloadedError\b", "anthropic.OverloadedError for a 529"),
    ("anthropic", "0.41.0", r"\bmessages\.count_tokens\b", "client.messages.count_tokens"),
    ("chromadb", "1.0.0", r"configuration=\{\"hnsw\"", "a collection's configuration dict"),
]  # fmt: skip


def floors() -> dict[str, Requirement]:
    """pyproject.toml's dependencies, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def floor_of(requirement: Requirement) -> Version:
    lower = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert len(lower) == 1, f"{requirement} needs exactly one >= floor"
    return lower[0]


def test_every_dependency_has_a_floor() -> None:
    for requirement in floors().values():
        floor_of(requirement)


@pytest.mark.parametrize(("package", "added", "pattern", "what"), ADDED_IN, ids=lambda v: str(v))
def test_floors_cover_what_the_course_names(
    package: str, added: str, pattern: str, what: str
) -> None:
    users = [
        str(path.relative_to(ROOT))
        for path in TEXTS
        if re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    floor = floor_of(floors()[canonicalize_name(package)])
    assert not users or floor >= Version(added), (
        f"{', '.join(users)}: {what}, new in {package} {added}, "
        f"but pyproject.toml accepts {package}>={floor}"
    )


USED_UNIMPORTED = {"python-multipart"}
"""Direct dependencies the examples use through another package: FastAPI reads forms with it."""


LOCAL_PACKAGES = [ROOT / "minilm"]
"""The course's own packages that the examples use, whose imports count as the examples' own."""


def embedding_model() -> str:
    """The registry package of minilm's weights, as the Makefile pins it: it is installed without
    its declared dependencies (sentence-transformers, hence PyTorch), so pip cannot resolve it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^EMBEDDING_MODEL := (\S+)$", makefile, re.MULTILINE).group(1)


def imported_distributions() -> set[str]:
    """The direct dependencies that the examples use, by canonical name."""
    modules = set()
    for path in [*EXAMPLES.rglob("*.py"), *(p for f in LOCAL_PACKAGES for p in f.rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.partition(".")[0])
    providers = packages_distributions()
    direct = floors()
    found = {
        canonicalize_name(distribution)
        for module in modules
        for distribution in providers.get(module, [])
    }
    runner = {"pytest", "pytest-asyncio"}  # the examples' test runner
    return (found & direct.keys()) | USED_UNIMPORTED | runner


def floor_pins() -> list[str]:
    direct = floors()
    pins = []
    for name in sorted(imported_distributions()):
        requirement = direct[name]
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins.append(f"{requirement.name}{extras}=={floor_of(requirement)}")
    return pins


EXCLUDED = ROOT / "excluded-packages.txt"
"""What the project's environment leaves out (the Makefile's install): so does this one."""
UV = Path(sys.executable).with_name("uv")
"""uv, which the Makefile installs into the project's environment: it installs the floors from
the cache the project's own install filled, in seconds where pip took minutes."""


def floors_environment(pins: list[str]) -> Path:
    """A virtual environment with exactly `pins` and what they need, as uv resolves it, built
    once and reused until the pins or the exclusions change. The examples import the course's
    own packages (`grader`, `minilm`) from the repository's root, where their tests run."""
    python = FLOORS_VENV / "bin" / "python"
    stamp = FLOORS_VENV / "pins.txt"
    wanted = "\n".join([*pins, embedding_model(), "", EXCLUDED.read_text()])
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    venv.EnvBuilder(clear=True).create(FLOORS_VENV)
    uv_install = [str(UV), "pip", "install", "--quiet", "--python", str(python)]
    for packages in (["--excludes", str(EXCLUDED), *pins], ["--no-deps", embedding_model()]):
        install = subprocess.run(
            [*uv_install, *packages],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0:
            message = f"could not install {packages}:\n{install.stdout}{install.stderr}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)  # no package index here: CI runs it
    stamp.write_text(wanted)
    return python


def test_the_floor_run_pins_what_the_examples_import() -> None:
    pins = floor_pins()
    for name in ("fastapi", "starlette", "uvicorn", "pydantic-settings", "asgi-lifespan"):
        assert any(canonicalize_name(pin.partition("==")[0].split("[")[0]) == name for pin in pins)


def test_examples_pass_on_the_floor_versions() -> None:
    pins = floor_pins()
    python = floors_environment(pins)
    pinned = [Requirement(pin) for pin in pins]
    names = [requirement.name for requirement in pinned]
    code = f"from importlib.metadata import version; print(*map(version, {names!r}))"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    expected = [Version(next(iter(requirement.specifier)).version) for requirement in pinned]
    versions = [Version(version) for version in found.stdout.split()]
    assert versions == expected, f"the project's own packages shadow the floors: {found.stdout}"
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    # The floors are installed without bytecode. The examples' servers, a process each, would
    # compile them afresh every time; kept in the environment's own folder, each module is
    # compiled once, and nothing is written into the repository.
    env |= {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(FLOORS_VENV / "pycache")}
    run = subprocess.run(
        [str(python), "-m", "pytest", "examples", "-p", "no:cacheprovider", "-q", "-x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    versions = subprocess.run(
        [str(UV), "pip", "freeze", "--python", str(python)], capture_output=True, text=True
    ).stdout
    assert run.returncode == 0, (
        f"The examples fail on the floor versions in {FLOORS_VENV}:\n{versions}\n"
        f"{run.stdout[-6000:]}{run.stderr[-2000:]}"
    )
    assert sys.executable != str(python)

"""The catalogue service's image, read without building it: examples/deploy/Dockerfile,
.dockerignore, Procfile and requirements.txt.

The course's machines have no container runtime, so these tests read the Dockerfile with
dockerfile-parse, the parser Red Hat's image build tools use, and hold it to the rules of Module
10: two stages from one base, a numeric user that is not root, the exec form of CMD (the same
command as the Procfile's), a HEALTHCHECK that asks for liveness, no secret in any layer, and a
build context that ships nothing it should not. The HEALTHCHECK's command itself is run, as
Docker would run it, against a real server.

Module 10's lesson (sections "The Dockerfile" and "No secrets in the image") includes parts of
this file. Run its tests with `pytest examples/catalogue_image.py`.
"""

import ast
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from dockerfile_parse import DockerfileParser
from travel_upstreams import Supplier, running

DEPLOY = Path(__file__).parent / "deploy"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|INDEX_URL", re.IGNORECASE)


def stages() -> list[list[dict]]:
    """The Dockerfile's instructions, comments left out, one list per stage (from its FROM)."""
    result: list[list[dict]] = []
    for instruction in DockerfileParser(path=str(DEPLOY / "Dockerfile")).structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if instruction["instruction"] != "COMMENT":
            result[-1].append(instruction)
    return result


def values(stage: list[dict], name: str) -> list[str]:
    return [each["value"] for each in stage if each["instruction"] == name]


def exec_form(value: str) -> list[str]:
    """The command of an exec-form CMD (a JSON array of strings); anything else fails."""
    command = json.loads(value)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command), value
    return command


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out of the build. As in
    Docker, the last pattern that matches decides, and `!` lets a path back in; unlike Docker's,
    fnmatch's `*` also matches across folders, which these patterns never rely on."""
    decision = False
    for line in (DEPLOY / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated, pattern = pattern.startswith("!"), pattern.lstrip("!")
        candidates = {pattern, pattern.removeprefix("**/")}  # `**/` also matches no folder
        if any(fnmatch.fnmatch(path, candidate) for candidate in candidates):
            decision = not negated
    return decision


# --8<-- [start:dockerfile-tests]
def test_two_stages_from_one_base_and_only_the_venv_crosses() -> None:
    builder, final = stages()
    assert values(builder, "FROM") == ["python:3.11-slim AS builder"]
    assert values(final, "FROM") == ["python:3.11-slim"]  # the venv's python links to it
    assert values(final, "COPY")[0] == "--from=builder /opt/venv /opt/venv"
    assert not any("pip install" in run for run in values(final, "RUN"))  # no build tools


def test_it_runs_as_a_numeric_user_that_is_not_root() -> None:
    final = stages()[-1]
    user = values(final, "USER")[-1]
    assert user.isdigit() and int(user) != 0
    assert any(f"--uid {user}" in run for run in values(final, "RUN"))  # the user exists


def test_its_command_is_exec_form_and_the_procfiles() -> None:
    final = stages()[-1]
    assert not values(final, "ENTRYPOINT")
    command = exec_form(values(final, "CMD")[-1])  # a shell form would fail to parse
    assert command == ["gunicorn", "--config", "gunicorn.conf.py"]
    web = [line for line in (DEPLOY / "Procfile").read_text().splitlines() if line]
    assert web == ["web: " + shlex.join(command)]  # one way to start, on either platform


def test_the_healthcheck_passes_when_liveness_does_and_only_then() -> None:
    healthcheck = values(stages()[-1], "HEALTHCHECK")[-1]
    options, _, command = healthcheck.partition(" CMD ")
    assert "--timeout=3s" in options.split()
    command = exec_form(command.strip())
    assert command[0] == "python"  # the slim image has python, and no curl
    site = Supplier()
    site.route("/livez", statuses=[200, 503])
    with running(site) as url:
        env = {**os.environ, "PORT": url.rpartition(":")[2]}
        runs = [subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True)]
        runs.append(subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True))
    assert [run.returncode for run in runs] == [0, 1]  # healthy, then unhealthy
    assert [call.path for call in site.calls] == ["/livez", "/livez"]


# --8<-- [end:dockerfile-tests]


# --8<-- [start:secrets-tests]
def test_no_secret_is_written_into_the_image() -> None:
    builder, final = stages()
    for stage in (builder, final):
        for env in values(stage, "ENV"):
            names = [pair.partition("=")[0] for pair in shlex.split(env)]
            assert not [name for name in names if SECRET_NAME.search(name)], env
    assert any(arg.startswith("PIP_INDEX_URL") for arg in values(builder, "ARG"))
    assert not values(final, "ARG")  # nothing of the build's arguments in the final stage


def test_the_build_context_keeps_secrets_out_and_what_the_image_needs_in() -> None:
    for secret in (".env", ".env.production", "deploy.pem", "keys/service.key"):
        assert ignored(secret), secret
    for stage in stages():
        for copy in values(stage, "COPY"):
            *sources, _ = copy.split()
            if any(part.startswith("--from=") for part in sources):
                continue  # from another stage, not from the context
            for source in sources:
                assert (DEPLOY / source).is_file() and not ignored(source), source


# --8<-- [end:secrets-tests]


def distribution(name: str) -> str:
    """A name as the package index compares names: `Uvicorn_Worker` is `uvicorn-worker`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_service_imports_is_pinned() -> None:
    pins = {}
    for line in (DEPLOY / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line}: not pinned to one version"
            pins[distribution(name.partition("[")[0])] = version
    tree = ast.parse((DEPLOY / "catalogue.py").read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}  # fmt: skip
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules = {module.partition(".")[0] for module in modules} - set(sys.stdlib_module_names)
    modules |= {"gunicorn", "uvicorn_worker"}  # the server, which gunicorn.conf.py names
    providers = packages_distributions()
    needed = {distribution(providers[module][0]) for module in modules}
    assert needed <= pins.keys(), needed - pins.keys()

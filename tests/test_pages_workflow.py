"""The GitHub Pages workflow publishes exactly what the course's own strict build checks."""

import shlex

import yaml

from grader.manifest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"


def test_pages_workflow_builds_strictly_and_deploys_the_built_site():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads `on:` as True
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    commands = [shlex.split(step["run"]) for step in build["steps"] if "run" in step]
    assert ["make", "setup"] in commands
    (mkdocs,) = [command for command in commands if "mkdocs" in command[0]]
    assert mkdocs[1:3] == ["build", "--strict"] and "-q" not in mkdocs
    site = mkdocs[mkdocs.index("--site-dir") + 1]
    (upload,) = [step for step in build["steps"] if "upload-pages-artifact" in step.get("uses", "")]
    assert upload["with"]["path"] == site
    assert deploy["needs"] == "build"
    assert any("deploy-pages" in step.get("uses", "") for step in deploy["steps"])

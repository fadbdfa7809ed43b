"""The CI examples are valid for their platforms' schemas (the vendored copies check-jsonschema ships)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML

ROOT = Path(__file__).parents[2]


def vendored_schema(name: str) -> dict[str, Any]:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@pytest.mark.parametrize(("path", "schema"), [
    ("examples/ci/github-actions.yml", "github-workflows"),
    ("examples/ci/gitlab-ci.yml", "gitlab-ci"),
])
def test_ci_example_is_valid_for_its_platform(path: str, schema: str) -> None:
    document = load_yaml12(ROOT / path)  # GitHub reads `on:` as a key, as YAML 1.2 does
    validator = jsonschema.Draft7Validator(vendored_schema(schema))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_pre_commit_hook_runs_validate() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "misp-reconcile validate"
    assert hook["id"] == "misp-reconcile-validate"
    config = yaml.safe_load((ROOT / "examples/pre-commit-hooks.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] == hook["id"]


def load_yaml12(path: Path) -> Any:
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text())))


def workflow_commands(path: str) -> list[str]:
    """The misp-reconcile commands of a CI example, in the order the pipeline runs them."""
    document = load_yaml12(ROOT / path)
    commands: list[str] = []
    if "jobs" in document:
        for job in document["jobs"].values():
            commands += [s["run"] for s in job["steps"] if s.get("run", "").startswith("misp-reconcile")]
    else:
        for name in ("validate", "plan", "apply"):
            commands += [line for line in document[name]["script"] if line.startswith("misp-reconcile")]
    return commands


def test_workflows_validate_then_plan_then_apply_the_saved_plan() -> None:
    for path in ("examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"):
        commands = workflow_commands(path)
        verbs = [c.split()[1] for c in commands]
        assert verbs[0] == "validate" and verbs[-1] == "apply", path
        assert "apply plan.json" in commands[-1], "apply must use the saved, reviewed plan"

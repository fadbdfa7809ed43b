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

from tests.canaries import CANARIES

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


@pytest.mark.parametrize("path", ["examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"])
def test_the_pipeline_commands_run_in_order_against_the_sandbox(path: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow's own misp-reconcile lines, in its order, on a copy of examples/training: validate, plan
    (markdown for the PR, saved plan), apply the saved plan; then the instance matches the manifests."""
    import shlex
    import shutil

    from click.testing import CliRunner

    from reconciler.cli.main import cli

    shutil.copytree(ROOT / "examples" / "training", tmp_path / "manifests")
    monkeypatch.chdir(tmp_path)
    env = {"MANIFESTS": "manifests", "MISP_RECONCILER_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
           "MISP_TRAINING_HUB_KEY": CANARIES.get("training-hub-key", key=True)}
    monkeypatch.setenv("MISP_TRAINING_HUB_KEY", env["MISP_TRAINING_HUB_KEY"])
    runner = CliRunner()
    for command in workflow_commands(path):
        line = command.split(">")[0]  # "> plan.md": the markdown goes to the PR comment
        for name, value in env.items():
            line = line.replace(f'"${name}"', value).replace(f"${name}", value)
        args = shlex.split(line)[1:] + ["--state-dir", str(tmp_path / "state")] * (shlex.split(line)[1] in
                                                                                   ("plan", "apply"))
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, f"{line}\n{result.output}"
    replan = runner.invoke(cli, ["plan", "manifests", "--env", "production", "--state-url", env[
        "MISP_RECONCILER_STATE_URL"], "--state-dir", str(tmp_path / "state"), "--detailed-exitcode"])
    assert replan.exit_code == 0, replan.output

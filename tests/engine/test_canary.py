"""Secrets never leak: unique canary values used as secrets appear in no output, plan file, state or audit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from tests.canaries import CANARIES

MANIFEST = """
instance: {name: canary}
organisations:
  - {name: Canary Org, local: true}
users:
  - {email: canary@example.org, org: Canary Org, role: User, password: {env: CANARY_PASSWORD}}
settings:
  Proxy.password: {env: CANARY_PROXY}
  MISP.welcome_text_top: canary test
"""


def test_no_canary_in_outputs_plan_files_state_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    canaries = {"CANARY_PASSWORD": CANARIES.get("user-password"), "CANARY_PROXY": CANARIES.get("proxy-password")}
    manifests = tmp_path / "m"
    manifests.mkdir()
    (manifests / "m.yaml").write_text(MANIFEST)
    state = tmp_path / "state"
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    base = ["--state-dir", str(state)]
    outputs = []
    for args in (["plan", str(manifests), *base, "--format", "json"],
                 ["plan", str(manifests), *base, "--format", "markdown"],
                 ["plan", str(manifests), *base, "-o", str(tmp_path / "plan.json")],
                 ["apply", str(manifests), *base, "--auto-approve"],
                 ["plan", str(manifests), *base, "--detailed-exitcode"],
                 ["audit", "show", "--state-url", f"sqlite:///{state / 'canary.db'}", "--instance", "canary"],
                 ["audit", "export", "--jsonl", "--state-url", f"sqlite:///{state / 'canary.db'}",
                  "--instance", "canary"]):
        result = runner.invoke(cli, args, env=canaries, catch_exceptions=False)
        outputs.append(result.output)
    assert "Apply complete" in outputs[3]
    assert outputs[4].strip().endswith("No changes. MISP matches the manifests.")
    ours = [*outputs, caplog.text, (tmp_path / "plan.json").read_text(),
            (state / "canary.db").read_bytes().decode("latin-1")]
    for value in canaries.values():
        for text in ours:
            assert value not in text
    audit = [json.loads(line) for line in outputs[6].splitlines() if line.startswith("{")]
    assert any(r.get("record", r).get("kind") == "users" for r in audit) or "users" in outputs[5]

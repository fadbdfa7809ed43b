"""`misp-reconcile validate`: exit codes, every error in one run, text and JSON output, --env, offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli

ROOT = Path(__file__).parents[2]
CASES = Path(__file__).parent / "cases"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("validate must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", ["training", "minimal"])
def test_the_examples_are_valid(name: str) -> None:
    code, _, err = run(str(ROOT / "examples" / name))
    assert code == 0, err
    assert "Valid:" in err


def test_a_bad_manifest_exits_1_with_its_message_in_the_text_output() -> None:
    code, _, err = run(str(CASES / "role-bad-permission"))
    assert code == 1
    assert "manifest.yaml:2:27: roles[\"R\"].permission: expected one of 'read_only'" in err


def test_twenty_independent_errors_are_all_printed() -> None:
    code, out, _ = run(str(CASES / "twenty-independent-errors"), "--format", "json")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert len([d for d in document["diagnostics"] if d["severity"] == "error"]) == 20


def test_json_output_is_machine_readable() -> None:
    code, out, _ = run(str(CASES / "user-numeric-role"), "--format", "json")
    assert code == 1
    [diag] = json.loads(out)["diagnostics"]
    assert set(diag) == {"severity", "code", "file", "line", "column", "path", "message", "hint"}
    assert (Path(diag["file"]).name, diag["line"], diag["column"]) == ("manifest.yaml", 4, 53)
    assert diag["path"] == 'users["a@example.org"].role' and diag["severity"] == "error"
    assert diag["hint"] == "write the name, e.g. role: User"


def test_json_output_of_a_valid_set_is_an_empty_list() -> None:
    code, out, _ = run(str(ROOT / "examples" / "minimal"), "--format", "json")
    assert code == 0 and json.loads(out) == {"valid": True, "diagnostics": []}


def test_warnings_alone_do_not_fail(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("settings:\n  MISP.header: Hello\n")
    code, out, _ = run(str(tmp_path), "--format", "json")
    assert code == 0
    assert [d["severity"] for d in json.loads(out)["diagnostics"]] == ["warning"]


def test_env_merges_the_overlay_and_an_unknown_env_fails(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("organisations:\n  - {name: A, sector: Government}\n")
    (tmp_path / "overlays" / "prod").mkdir(parents=True)
    (tmp_path / "overlays" / "prod" / "o.yaml").write_text("organisations:\n  - {name: A, sector: 5}\n")
    assert run(str(tmp_path))[0] == 0
    code, out, _ = run(str(tmp_path), "--env", "prod", "--format", "json")
    assert code == 1 and [d["path"] for d in json.loads(out)["diagnostics"]] == ['organisations["A"].sector']
    code, out, _ = run(str(tmp_path), "--env", "staging", "--format", "json")
    assert code == 1 and [d["code"] for d in json.loads(out)["diagnostics"]] == ["unknown-env"]


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err


def test_a_secret_reference_is_not_resolved_by_validate(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "servers:\n  - {name: hub, url: 'https://hub.example.org', authkey: {file: missing.key},"
        " remote_org: {name: Hub}}\n")
    assert run(str(tmp_path))[0] == 0  # the key file is read at apply, never at validate

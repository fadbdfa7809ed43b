"""Every bad manifest under cases/ gives exactly its expected diagnostics (file:line:col, field path, message),
and validating contacts nothing: no socket is opened."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from reconciler.manifest.load import load

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("validation must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_there_are_at_least_a_hundred_cases() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
@pytest.mark.usefixtures("no_network")
def test_bad_manifest_gives_its_expected_diagnostics(case: Path) -> None:
    env_file = case / "env.txt"  # overlay cases name the --env they run with
    env = env_file.read_text().strip() if env_file.exists() else None
    _desired, diags = load([case], env=env, environ={})
    rendered = [d.render().replace(f"{case}/", "") for d in diags.sorted()]
    expected = (case / "expected.txt").read_text().splitlines()
    assert diags.has_errors()
    assert rendered == expected


def test_twenty_independent_errors_are_all_reported() -> None:
    _desired, diags = load([Path(__file__).parent / "cases" / "twenty-independent-errors"], environ={})
    assert len(diags.errors()) == 20


def test_json_diagnostics_carry_file_line_column_path_and_code() -> None:
    _desired, diags = load([Path(__file__).parent / "cases" / "role-bad-permission"], environ={})
    [diag] = [d.as_json() for d in diags]
    assert diag["line"] == 2 and diag["column"] == 27
    assert diag["path"] == 'roles["R"].permission' and diag["code"] == "not-an-option"
    assert str(diag["file"]).endswith("manifest.yaml")

"""`runs show ID --misp MANIFESTS`: our records of a run next to MISP's own log rows for it, matched by
X-Request-Id, against the sandbox; on SQLite and PostgreSQL state."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.engine.run import open_state
from reconciler.ops.logs import run_request_ids
from tests.canaries import CANARIES
from tests.engine.helpers import Workspace

MANIFEST = """\
organisations:
  - {name: Shown Org A, local: true}
  - {name: Shown Org B, local: true}
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture
def applied(state_url: str, tmp_path: Path) -> tuple[Workspace, str, int]:
    """A sandbox with an org added by hand, then one apply of two orgs recorded in the state at state_url."""
    ws = Workspace(tmp_path / "ws")
    ws.write("orgs.yaml", MANIFEST)
    ws.state_dir.mkdir(parents=True, exist_ok=True)

    async def by_hand() -> None:
        async with ws.misp() as misp:
            answer = await misp.post("/admin/organisations/add", json={"name": "Not Ours", "description": "x"})
            assert answer.status_code == 200, answer.text

    asyncio.run(by_hand())
    result = invoke("apply", "--auto-approve", str(ws.manifests), "--state-dir", str(ws.state_dir),
                    "--state-url", state_url)
    assert result.exit_code == 0, result.output
    listed = invoke("runs", "list", "--state-url", state_url, "--format", "json")
    run_id = int(json.loads(listed.output)[0]["id"])
    return ws, state_url, run_id


def show(ws: Workspace, url: str, run_id: int, *extra: str) -> Result:
    return invoke("runs", "show", str(run_id), "--state-url", url, "--state-dir", str(ws.state_dir), *extra)


def test_runs_show_adds_misp_rows_of_the_run_by_request_id(applied: tuple[Workspace, str, int]) -> None:
    ws, url, run_id = applied
    result = show(ws, url, run_id, "--misp", str(ws.manifests), "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    misp = data["misp"]
    rows = misp["audit_log"]
    # exactly the run's two creates, not the org added by hand before it
    assert sorted(row["model_title"] for row in rows) == ["Shown Org A", "Shown Org B"]
    assert all(row["model"] == "Organisation" and row["action"] == "add" for row in rows)
    ids = run_request_ids(open_state(ws.load(), ws.options(state_url=url)).audit("sandbox", run_id=run_id))
    assert ids and {row["request_id"] for row in rows} <= set(ids)
    assert misp["request_ids"] == len(ids)
    assert sorted(row["title"] for row in misp["application_log"]) == ["Shown Org A", "Shown Org B"]
    assert misp["notes"] == []
    assert data["operations"] and data["audit"]  # our own records are still there

    text = show(ws, url, run_id, "--misp", str(ws.manifests))
    assert text.exit_code == 0, text.output
    assert "MISP's audit log rows of this run" in text.output and "2 row(s)" in text.output
    assert "Shown Org A" in text.output and "Not Ours" not in text.output


def test_runs_show_without_misp_says_how_to_get_its_rows(applied: tuple[Workspace, str, int]) -> None:
    ws, url, run_id = applied
    data = json.loads(show(ws, url, run_id, "--format", "json").output)
    assert data["misp"]["audit_log"] is None
    assert any("--misp MANIFESTS" in note for note in data["misp"]["notes"])
    text = show(ws, url, run_id)
    assert text.exit_code == 0 and "--misp MANIFESTS" in " ".join(text.output.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_show_with_an_unreachable_misp_still_shows_our_records(applied: tuple[Workspace, str, int],
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ws, url, run_id = applied
    down = tmp_path / "down"
    down.mkdir()
    (down / "instance.yaml").write_text(f"instance:\n  name: sandbox\n  url: http://127.0.0.1:{free_port()}\n"
                                        "  key: {env: RUNS_SHOW_TEST_KEY}\n")
    monkeypatch.setenv("RUNS_SHOW_TEST_KEY", CANARIES.get("unreachable-misp-key", key=True))
    result = show(ws, url, run_id, "--misp", str(down), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["misp"]["audit_log"] is None and data["operations"]
    assert any("could not be read" in note for note in data["misp"]["notes"]), data["misp"]


def test_runs_show_refuses_manifests_of_another_instance(applied: tuple[Workspace, str, int],
                                                         tmp_path: Path) -> None:
    ws, url, run_id = applied
    other = tmp_path / "other"
    other.mkdir()
    (other / "instance.yaml").write_text("instance:\n  name: elsewhere\n")
    data = json.loads(show(ws, url, run_id, "--misp", str(other), "--format", "json").output)
    assert data["misp"]["audit_log"] is None
    assert any("'elsewhere'" in note for note in data["misp"]["notes"]), data["misp"]

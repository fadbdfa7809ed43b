"""Run the lifecycle commands as a person would (through the CLI), against sandboxes in tmp dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from tests.engine.helpers import Workspace


def run_cli(*args: str | Path, code: int | None = 0) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result


def export(ws: Workspace, out: Path, *extra: str) -> Result:
    return run_cli("export", ws.manifests, "--state-dir", ws.state_dir, "-o", out, *extra)


def files(directory: Path) -> dict[str, str]:
    """Every file of an export by name, without the schema comment (its relative path depends on depth)."""
    return {p.name: p.read_text().split("\n", 1)[1] for p in sorted(directory.glob("*.yaml"))}


async def call(ws: Workspace, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    async with ws.misp(instance_name(ws)) as misp:
        headers = {"Authorization": key} if key else None
        response = await misp.request(method, path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


def instance_name(ws: Workspace) -> str:
    desired = ws.load()
    return desired.instance.name if desired.instance is not None else "sandbox"

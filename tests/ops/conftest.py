"""Shared helpers for the operations commands: run the CLI against a Workspace's sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from tests.engine.helpers import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def invoke(ws: Workspace, *args: str) -> Result:
    """`misp-reconcile ARGS... MANIFESTS --state-dir STATE` (the manifests and state of the workspace)."""
    return CliRunner().invoke(cli, [*args, str(ws.manifests), "--state-dir", str(ws.state_dir)])

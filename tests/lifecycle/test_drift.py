"""drift: read-only; which side moved each field since the last apply, and who moved it in MISP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import Workspace
from tests.lifecycle.helpers import call, run_cli

MANIFESTS = """
organisations:
  - {name: Alpha CERT, local: true}
users:
  - {email: ana@alpha.example.org, org: Alpha CERT, role: User, nids_sid: 4100001, termsaccepted: false}
  - {email: bob@alpha.example.org, org: Alpha CERT, role: User, autoalert: false, disabled: false}
  - {email: ops@alpha.example.org, org: Alpha CERT, role: admin}
"""
IGNORE = """
policy:
  ignore:
    - {kind: users, key: Ana@alpha.example.org, fields: [termsaccepted], reason: accepted in the web UI}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write("identity.yaml", MANIFESTS)
    workspace.write("policy.yaml", IGNORE)
    applied = workspace.apply()
    assert applied.result is not None and applied.result.ok
    return workspace


def drift_json(ws: Workspace, code: int = 2) -> dict[str, Any]:
    result = run_cli("drift", ws.manifests, "--state-dir", ws.state_dir, "--format", "json",
                     "--detailed-exitcode", code=code)
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


async def user_id(ws: Workspace, email: str) -> str:
    users = await call(ws, "GET", "/admin/users/index")
    return next(str(u["User"]["id"]) for u in users if u["User"]["email"] == email)


async def edit_as_ops(ws: Workspace) -> None:
    """ops, a second site admin with their own key, edits bob and ana directly in MISP."""
    ops = await user_id(ws, "ops@alpha.example.org")
    key = (await call(ws, "POST", f"/auth_keys/add/{ops}", {"comment": "ops laptop"}))["AuthKey"]["authkey_raw"]
    bob, ana = await user_id(ws, "bob@alpha.example.org"), await user_id(ws, "ana@alpha.example.org")
    await call(ws, "POST", f"/admin/users/edit/{bob}", {"autoalert": True, "disabled": True}, key=key)
    await call(ws, "POST", f"/admin/users/edit/{ana}", {"termsaccepted": True}, key=key)


def test_no_drift_right_after_apply(ws: Workspace) -> None:
    report = drift_json(ws, code=0)
    assert report["objects"] == [] and report["drift"] is False
    assert report["ignore"] == [{"kind": "users", "key": "Ana@alpha.example.org", "fields": ["termsaccepted"],
                                 "reason": "accepted in the web UI"}]


def test_a_user_edited_in_misp_drifts_in_exactly_those_fields_attributed_to_who_did_it(ws: Workspace) -> None:
    asyncio.run(edit_as_ops(ws))
    report = drift_json(ws)
    assert [(o["address"], o["status"]) for o in report["objects"]] == [
        ('users["bob@alpha.example.org"]', "changed")]
    fields = report["objects"][0]["fields"]
    assert [(f["path"], f["side"], f["live"], f["declared"]) for f in fields] == [
        ("autoalert", "misp", True, False), ("disabled", "misp", True, False)]
    assert report["ignored"] == ['users["ana@alpha.example.org"].termsaccepted: accepted in the web UI']
    assert {f["attribution"]["who"] for f in fields} == {"ops@alpha.example.org"}


def test_a_change_in_the_manifests_is_told_apart_from_one_in_misp(ws: Workspace) -> None:
    ws.write("identity.yaml", MANIFESTS.replace("nids_sid: 4100001", "nids_sid: 4100002"))
    report = drift_json(ws)
    fields = report["objects"][0]["fields"]
    assert [(f["path"], f["side"], f["live"], f["declared"]) for f in fields] == [
        ("nids_sid", "manifests", 4100001, 4100002)]
    text = run_cli("drift", ws.manifests, "--state-dir", ws.state_dir).stdout
    assert "nids_sid: MISP 4100001, manifests 4100002 (changed in the manifests)" in text
    assert "accepted in the web UI" in text

"""The disaster-recovery drill of issue 8: configure A, change it by hand, export, rebuild B from the export;
B plans empty and exports the same as A."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from tests.canaries import CANARIES
from tests.engine.helpers import IDENTITY, Workspace
from tests.lifecycle.helpers import call, export, files, run_cli

ROOT = Path(__file__).parents[2]

EXTRA = IDENTITY + """
sharing_groups:
  - name: Community
    uuid: 9a1f4c4e-8c55-4b2a-9c1e-2d1f3b0c1a11
    releasability: Members only
    organisations: [{org: Alpha CERT, extend: true}, {org: Beta Bank}]
"""


def configured(tmp_path: Path) -> Workspace:
    """Sandbox A: examples/minimal plus EXTRA applied, then changed by hand through MISP's API."""
    ws = Workspace(tmp_path / "a")
    shutil.copytree(ROOT / "examples" / "minimal", ws.manifests)
    ws.write("extra.yaml", EXTRA)
    applied = ws.apply()
    assert applied.result is not None
    assert applied.result.ok, [o.error for o in applied.result.outcomes]

    async def by_hand() -> None:
        await call(ws, "POST", "/admin/organisations/add", {"name": "Hand Made", "nationality": "France"})
        users = await call(ws, "GET", "/admin/users/index")
        bob = next(u["User"] for u in users if u["User"]["email"] == "bob@beta.example.org")
        await call(ws, "POST", f"/admin/users/edit/{bob['id']}", {"autoalert": True})
        await call(ws, "POST", "/tags/add", {"name": "hand:made", "colour": "#aabbcc"})

    asyncio.run(by_hand())
    return ws


def test_dr_drill_rebuilds_an_identical_instance(tmp_path: Path) -> None:
    a = configured(tmp_path)
    export(a, tmp_path / "export-a")
    run_cli("validate", tmp_path / "export-a")

    b = Workspace(tmp_path / "b")
    shutil.copytree(tmp_path / "export-a", b.manifests)
    applied = b.apply()
    assert applied.result is not None
    assert applied.result.ok, [o.error for o in applied.result.outcomes]
    assert b.plan().plan.is_empty()
    export(b, tmp_path / "export-b")
    assert files(tmp_path / "export-b") == files(tmp_path / "export-a")


def test_export_keeps_hand_made_changes_and_pins_uuids(tmp_path: Path) -> None:
    a = configured(tmp_path)
    export(a, tmp_path / "out")
    out = files(tmp_path / "out")
    assert "- name: Hand Made\n" in out["organisations.yaml"]
    assert "uuid: 11111111-2222-4333-8444-555555555555" in out["organisations.yaml"]
    assert "autoalert: true" in out["users.yaml"]
    assert "ORGNAME" not in out["organisations.yaml"] and "admin@admin.test" not in out["users.yaml"]
    assert not re.search(r"\bid:", "".join(out.values()))


def test_a_fresh_instance_exports_nothing_but_with_all_its_builtins(tmp_path: Path) -> None:
    run_cli("export", "--state-dir", tmp_path / "state", "-o", tmp_path / "none")
    assert files(tmp_path / "none") == {}
    run_cli("export", "--state-dir", tmp_path / "state", "-o", tmp_path / "all", "--all")
    everything = files(tmp_path / "all")
    assert "- name: ORGNAME\n" in everything["organisations.yaml"]
    assert "- name: Read Only\n" in everything["roles.yaml"]


def test_export_then_adopt_then_plan_is_empty(tmp_path: Path) -> None:
    a = configured(tmp_path)
    export(a, tmp_path / "out")
    shutil.rmtree(a.manifests)
    shutil.copytree(tmp_path / "out", a.manifests)
    actions = {c.action.value for c in a.plan().plan.actionable}
    assert actions == {"adopt"}, a.plan().plan.actionable
    run_cli("adopt", a.manifests, "--state-dir", a.state_dir)
    assert a.plan().plan.is_empty()


def test_rebuild_onto_an_empty_misp_pins_uuids_and_says_what_git_lacks(tmp_path: Path) -> None:
    a = configured(tmp_path)
    export(a, tmp_path / "export-a")
    b = Workspace(tmp_path / "b")
    shutil.copytree(tmp_path / "export-a", b.manifests)
    out = run_cli("rebuild", b.manifests, "--state-dir", b.state_dir, "--auto-approve").stdout
    assert "Not rebuilt from git" in out and "passwords of 3 users" in out and "events, attributes" in out

    async def uuids(ws: Workspace) -> dict[str, str]:
        orgs = await call(ws, "GET", "/organisations/index/scope:all")
        return {o["Organisation"]["name"]: o["Organisation"]["uuid"] for o in orgs}

    before, after = asyncio.run(uuids(a)), asyncio.run(uuids(b))
    assert after["Alpha CERT"] == before["Alpha CERT"] == "11111111-2222-4333-8444-555555555555"
    assert after["Hand Made"] == before["Hand Made"]  # pinned by the export even though made by hand
    assert b.plan().plan.is_empty()


def test_rebuild_refuses_a_misp_that_is_not_empty(tmp_path: Path) -> None:
    a = configured(tmp_path)
    export(a, tmp_path / "export-a")
    # A's own sandbox (it lives in A's state dir) with an empty ledger elsewhere: MISP is not empty.
    result = run_cli("rebuild", tmp_path / "export-a", "--state-dir", a.state_dir, "--state-url",
                     f"sqlite:///{tmp_path / 'fresh.db'}", "--auto-approve", code=1)
    assert "the target MISP is not empty" in result.output and "Alpha CERT" in result.output
    c = Workspace(tmp_path / "c")
    shutil.copytree(tmp_path / "export-a", c.manifests)
    c.apply()
    again = run_cli("rebuild", c.manifests, "--state-dir", c.state_dir, "--auto-approve", code=1)
    assert "already owns objects" in again.output


def test_dr_drill_from_the_training_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_key = CANARIES.get("training-hub-key", key=True)  # the sandbox accepts any 40 alphanumerics
    monkeypatch.setenv("MISP_TRAINING_HUB_KEY", hub_key)
    monkeypatch.setenv("MISP_SYNC_HUB_KEY", hub_key)  # the reference the export writes for that key
    a = Workspace(tmp_path / "a")
    shutil.copytree(ROOT / "examples" / "training", a.manifests)
    applied = a.apply()
    assert applied.result is not None and applied.result.ok
    export(a, tmp_path / "export-a")
    run_cli("validate", tmp_path / "export-a")
    b = Workspace(tmp_path / "b")
    shutil.copytree(tmp_path / "export-a", b.manifests)
    rebuilt = b.apply()
    assert rebuilt.result is not None
    assert rebuilt.result.ok, [o.error for o in rebuilt.result.outcomes]
    assert b.plan().plan.is_empty()
    export(b, tmp_path / "export-b")
    assert files(tmp_path / "export-b") == files(tmp_path / "export-a")

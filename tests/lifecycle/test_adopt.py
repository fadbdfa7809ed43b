"""adopt: take existing MISP objects into the ledger without recreating them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reconciler.engine.run import open_state
from tests.engine.helpers import Workspace
from tests.lifecycle.helpers import call, run_cli

MANIFESTS = """
organisations:
  - {name: Alpha CERT, local: true}
"""


def owned(ws: Workspace, kind: str) -> set[str]:
    return {key for (k, key) in open_state(ws.load(), ws.options()).ledger("sandbox") if k == kind}


def test_adopt_all_takes_over_every_object_of_a_kind_and_plans_nothing_after(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", MANIFESTS)
    ws.apply()

    async def by_hand() -> dict[str, str]:
        made = [await call(ws, "POST", "/admin/organisations/add", {"name": name, "sector": "Finance"})
                for name in ("Hand One", "Hand Two")]
        return {o["Organisation"]["name"]: o["Organisation"]["id"] for o in made}

    ids = asyncio.run(by_hand())
    result = run_cli("adopt", ws.manifests, "--state-dir", ws.state_dir, "--all", "organisations")
    assert "+ organisations['Hand One'] added to orgs.yaml" in result.stdout
    assert owned(ws, "organisations") == {"Alpha CERT", "Hand One", "Hand Two", "ORGNAME"}
    ledger = open_state(ws.load(), ws.options()).ledger("sandbox")
    assert ledger[("organisations", "Hand One")].misp_id == ids["Hand One"]  # the same object, not recreated
    plan = ws.plan().plan
    assert not [c for c in plan.actionable if c.action.value in ("create", "delete")]
    assert plan.is_empty()


def test_adopt_takes_only_adopts_and_leaves_creates_to_apply(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)

    async def by_hand() -> None:
        await call(ws, "POST", "/admin/organisations/add", {"name": "Existing"})

    asyncio.run(by_hand())
    ws.write("orgs.yaml", "organisations:\n  - {name: Existing}\n  - {name: Brand New}\n")
    run_cli("adopt", ws.manifests, "--state-dir", ws.state_dir)
    assert owned(ws, "organisations") == {"Existing"}
    assert [(c.action.value, c.key) for c in ws.plan().plan.actionable] == [("create", "Brand New")]

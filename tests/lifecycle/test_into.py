"""export --into: a hand-written manifest directory updated in place, every comment and key order kept."""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path

from tests.engine.helpers import Workspace
from tests.lifecycle.helpers import call, run_cli

IDENTITY = """\
# Who we are. Reviewed by the CSIRT lead every quarter.
organisations:
  - name: Alpha CERT          # our own org
    sector: Government
    local: true
    uuid: 11111111-2222-4333-8444-555555555555
  - &beta
    name: Beta Bank
    local: false              # a partner, not on this instance

users:
  # analysts
  - email: ana@alpha.example.org
    role: User
    org: Alpha CERT
    autoalert: false          # too noisy
"""
TAGS = """\
tags:
  - {name: "alpha:internal", colour: "#112233"}   # flow style stays flow style
"""


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def test_export_into_keeps_comments_and_key_order_and_adds_new_objects(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("identity.yaml", IDENTITY)
    ws.write("tags.yaml", TAGS)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok

    async def by_hand() -> None:
        users = await call(ws, "GET", "/admin/users/index")
        ana = next(u["User"]["id"] for u in users if u["User"]["email"] == "ana@alpha.example.org")
        await call(ws, "POST", f"/admin/users/edit/{ana}", {"autoalert": True})
        await call(ws, "POST", "/admin/organisations/add", {"name": "Gamma Gov", "sector": "Government"})

    asyncio.run(by_hand())
    result = run_cli("export", "--state-dir", ws.state_dir, "--into", ws.manifests)
    assert "~ users['ana@alpha.example.org'].autoalert: False → True" in result.stdout
    assert "+ organisations['Gamma Gov'] added to identity.yaml" in result.stdout

    after = (ws.manifests / "identity.yaml").read_text()
    gamma_uuid = after.split("name: Gamma Gov\n    uuid: ")[1].split("\n")[0]
    assert changed_lines(IDENTITY, after) == [
        "+   - name: Gamma Gov",
        f"+     uuid: {gamma_uuid}",
        "+     sector: Government",
        "-     autoalert: false          # too noisy",
        "+     autoalert: true           # too noisy",
    ]
    assert (ws.manifests / "tags.yaml").read_text() == TAGS  # nothing changed: file untouched
    assert ws.plan().plan.actionable and {c.action.value for c in ws.plan().plan.actionable} == {"adopt"}
    run_cli("validate", ws.manifests)

"""Kill -9 the apply after each journal point; the next apply converges: nothing duplicated, nothing lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.helpers import Workspace

MANIFEST = """
organisations:
  - {name: Crash Org A, local: true}
  - {name: Crash Org B, local: false}
roles:
  - {name: Crash Role, permission: manage_own, perms: [tagger]}
users:
  - {email: crash-a@example.org, org: Crash Org A, role: Crash Role}
  - {email: crash-b@example.org, org: Crash Org B, role: User}
"""


def crash(ws: Workspace, step: str, nth: int) -> int:
    root = Path(__file__).parents[2]
    proc = subprocess.run([sys.executable, "-m", "tests.engine.crash_apply", str(ws.manifests),
                           str(ws.state_dir), step, str(nth)], cwd=root, capture_output=True, timeout=120)
    return proc.returncode


async def names_in_misp(ws: Workspace) -> tuple[list[str], list[str], list[str]]:
    async with ws.misp() as misp:
        orgs = [o["Organisation"]["name"] for o in (await misp.get("/organisations/index/scope:all")).json()]
        users = [u["User"]["email"] for u in (await misp.get("/admin/users/index")).json()]
        roles = [r["Role"]["name"] for r in (await misp.get("/roles/index")).json()]
    return orgs, users, roles


@pytest.mark.slow
@pytest.mark.parametrize("step", ["intent", "sent", "confirmed"])
@pytest.mark.parametrize("nth", [1, 3])
def test_kill_at_each_journal_point_then_converge(tmp_path: Path, step: str, nth: int) -> None:
    ws = Workspace(tmp_path)
    ws.write("crash.yaml", MANIFEST)
    assert crash(ws, step, nth) == -9, "the apply should have been killed"
    applied = ws.apply()
    assert applied.result is None or applied.result.ok
    assert ws.plan().plan.is_empty()
    orgs, users, roles = asyncio.run(names_in_misp(ws))
    assert sorted(n for n in orgs if n.startswith("Crash")) == ["Crash Org A", "Crash Org B"]
    assert sorted(u for u in users if u.startswith("crash")) == ["crash-a@example.org", "crash-b@example.org"]
    assert roles.count("Crash Role") == 1

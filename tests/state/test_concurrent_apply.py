"""Two real `misp-reconcile apply` processes on one state and one sandbox, on SQLite and PostgreSQL.

Both are started together on a manifest big enough (300 organisations) that their applies overlap: the
one that takes the state lock holds it for its whole apply, the other is refused with the holder named. If
the machine happens to serialise them anyway, the second finds nothing to do. Either way the state stays
consistent: the audit chain verifies, the ledger and MISP hold each organisation exactly once, and the next
plan is empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.engine.helpers import Workspace

ROOT = Path(__file__).resolve().parents[2]
ORGS = 300


def manifest() -> str:
    lines = ["organisations:"]
    lines += [f"  - {{name: Concurrent Org {i:03d}, local: true}}" for i in range(ORGS)]
    return "\n".join(lines) + "\n"


def cli(ws: Workspace, state_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args, str(ws.manifests), "--state-dir", str(ws.state_dir),
            "--state-url", state_url]


def run(ws: Workspace, state_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(ws, state_url, *args), cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


def state_cmd(state_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *args, "--state-url", state_url,
                           "--instance", "sandbox"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def misp_org_names(ws: Workspace) -> list[str]:
    async def fetch() -> list[str]:
        async with ws.misp() as misp:
            answer = await misp.get("/organisations/index/scope:all")
            assert answer.status_code == 200, answer.text
            return [str(row.get("Organisation", row)["name"]) for row in answer.json()]

    return asyncio.run(fetch())


def test_two_applies_on_one_state_never_corrupt_it(state_url: str, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.write("orgs.yaml", manifest())
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    # Migrate the state first, so the race is the one this test is about (the lock), not schema creation.
    assert state_cmd(state_url, "state", "migrate").returncode == 0

    env = {**os.environ, "COLUMNS": "200"}
    procs = [subprocess.Popen(cli(ws, state_url, "apply", "--auto-approve"), cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append((proc.returncode, out, err, proc.pid))
    report = "\n".join(f"pid {pid} exit {code}\nstdout:\n{out}\nstderr:\n{err}" for code, out, err, pid in results)

    codes = sorted(code for code, *_ in results)
    refused = [(out + err, pid) for code, out, err, pid in results if code == 1]
    if codes == [0, 1]:
        # They overlapped: the loser names the winner, by its pid.
        (text, _loser), = refused
        winner = next(pid for code, _o, _e, pid in results if code == 0)
        flat = " ".join(text.split())
        assert "locked by" in flat, report
        assert re.search(rf"\(pid {winner}\)", flat), report
    else:
        # They did not overlap: both succeeded and the second found nothing to do.
        assert codes == [0, 0], report
        assert any("No changes" in out or "nothing to do" in out.lower() for _c, out, _e, _p in results), report

    verify = state_cmd(state_url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listed = state_cmd(state_url, "state", "list", "--kind", "organisations", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    keys = [obj["key"] for obj in json.loads(listed.stdout)]
    expected = sorted(f"Concurrent Org {i:03d}" for i in range(ORGS))
    assert sorted(keys) == expected
    names = [name for name in misp_org_names(ws) if name.startswith("Concurrent Org ")]
    assert sorted(names) == expected  # each exactly once
    runs = state_cmd(state_url, "runs", "list", "--format", "json")
    assert [r["outcome"] for r in json.loads(runs.stdout)] == ["ok"]  # one apply did the work
    final = run(ws, state_url, "plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr

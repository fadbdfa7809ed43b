"""The `schedules` kind: applied to the embedded sandbox's record (`/sandbox/schedules`), and, for a real MISP,
compared with the last `schedules render` without a single request to the sandbox-only endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconciler.backend.client import MispClient, RequestRecord
from reconciler.engine import run
from reconciler.engine.targets import sandbox_db_url
from reconciler.plans.change import Action
from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app
from tests.engine.helpers import Workspace
from tests.ops.conftest import invoke

MANIFEST = """\
schedules:
  - {name: pull, command: pull_all, every: 1h}
  - {name: feeds, command: fetch_feeds, at: "06:00", user: admin@admin.test}
  - {name: taxonomies, command: update_taxonomies, at: "03:30"}
"""


def record(ws: Workspace) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with ws.misp() as misp:
            answer: list[dict[str, Any]] = (await misp.get("/sandbox/schedules")).json()
            return answer

    return asyncio.run(read())


def test_apply_records_the_schedules_in_the_sandbox_and_the_next_plan_is_empty(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    assert sorted(str(c.address) for c in applied.planned.plan.changes) == [
        'schedules["feeds"]', 'schedules["pull"]', 'schedules["taxonomies"]']
    assert record(ws) == [
        {"name": "feeds", "command": "fetch_feeds", "at": "06:00", "user": "admin@admin.test"},
        {"name": "pull", "command": "pull_all", "every": "1h"},
        {"name": "taxonomies", "command": "update_taxonomies", "at": "03:30"}]
    again = ws.plan()
    assert again.plan.is_empty(), again.plan.changes
    assert not [n for n in again.plan.notes if n.startswith("schedules")]  # nothing to render: the sandbox has it


def test_a_schedule_changed_in_the_sandbox_is_drift_of_exactly_that_field(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    ws.apply()

    async def edit() -> None:
        async with ws.misp() as misp:
            answer = await misp.post("/sandbox/schedules", json={"name": "pull", "command": "pull_all",
                                                                 "every": "30m"})
            assert answer.status_code == 200, answer.text

    asyncio.run(edit())
    changes = ws.plan().plan.changes
    assert [(str(c.address), c.action) for c in changes] == [('schedules["pull"]', Action.UPDATE)]
    assert [(f.path, f.before, f.after) for f in changes[0].fields] == [("every", "30m", "1h")]
    assert ws.apply().result is not None
    assert {"name": "pull", "command": "pull_all", "every": "1h"} in record(ws)
    assert ws.plan().plan.is_empty()


def test_switching_from_at_to_every_replaces_the_time(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    ws.apply()
    ws.write("schedules.yaml", MANIFEST.replace('at: "03:30"', "every: 1d"))
    changes = ws.plan().plan.changes
    assert [(f.path, f.before, f.after) for c in changes for f in c.fields] == [("every", None, "1d")]
    ws.apply()
    assert {"name": "taxonomies", "command": "update_taxonomies", "every": "1d"} in record(ws)
    assert ws.plan().plan.is_empty()


def test_a_schedule_removed_from_the_manifests_is_deleted_because_we_own_it(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    ws.apply()

    async def by_hand() -> None:  # someone else's schedule: not ours, never deleted under prune: owned
        async with ws.misp() as misp:
            await misp.post("/sandbox/schedules", json={"name": "theirs", "command": "push_all", "every": "2h"})

    asyncio.run(by_hand())
    ws.write("schedules.yaml", MANIFEST.replace("  - {name: pull, command: pull_all, every: 1h}\n", ""))
    changes = ws.plan().plan.changes
    assert [(str(c.address), c.action) for c in changes] == [('schedules["pull"]', Action.DELETE)]
    ws.apply()
    assert sorted(s["name"] for s in record(ws)) == ["feeds", "taxonomies", "theirs"]
    assert ws.plan().plan.is_empty()


def test_a_real_misp_is_never_asked_for_schedules_and_the_plan_compares_with_the_last_render(
        ws: Workspace) -> None:
    """The sandbox's app behind another base URL is, to the engine, a real MISP: it has no schedule API."""
    ws.write("schedules.yaml", MANIFEST)
    requests: list[RequestRecord] = []

    def real_misp(_desired: Any, options: run.Options) -> MispClient:
        app = create_app(sandbox_db_url(options.state_dir, "sandbox"))
        return MispClient("https://misp.example.org", DEFAULT_ADMIN_KEY, transport=httpx.ASGITransport(app=app),
                          on_request=requests.append)

    def plan() -> run.Planned:
        return ws.plan(client_factory=real_misp)

    never = plan()
    assert never.plan.is_empty() and not never.diagnostics.has_errors()
    assert [n for n in never.plan.notes if n.startswith("schedules")] == [
        "schedules: 3 declared, never rendered for this instance; MISP runs them from cron on its host, which has "
        "no API: render them with `misp-reconcile schedules render --format crontab|systemd` and install the "
        "result on the host"]
    assert invoke(ws, "schedules", "render").exit_code == 0
    unchanged = [n for n in plan().plan.notes if n.startswith("schedules")]
    assert len(unchanged) == 1 and unchanged[0].startswith("schedules: unchanged since the crontab render of ")
    ws.write("schedules.yaml", MANIFEST.replace("every: 1h", "every: 2h")
             + "  - {name: push, command: push_all, every: 6h}\n")
    changed = [n for n in plan().plan.notes if n.startswith("schedules")]
    assert len(changed) == 1
    assert "(+ push; ~ pull (every: 1h → 2h)): render them again with" in changed[0]
    applied = ws.apply(client_factory=real_misp)
    assert applied.result is None  # nothing to apply: the host's cron is not ours to write
    assert requests and not [r for r in requests if r.path.startswith("/sandbox")]
    assert record(ws) == []

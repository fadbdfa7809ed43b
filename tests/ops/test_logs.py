"""`logs`: MISP's application and audit logs through the sandbox, paged and filtered by MISP; `--run` finds
the rows one apply caused, by X-Request-Id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reconciler.engine.run import open_state
from reconciler.ops.logs import LogQuery, named_path, run_request_ids
from tests.engine.helpers import Workspace
from tests.ops.conftest import invoke

MANIFEST = """\
organisations:
  - {name: Run Org A, local: true}
  - {name: Run Org B, local: true, sector: Energy}
"""


def add_orgs(ws: Workspace, *names: str) -> None:
    async def add() -> None:
        async with ws.misp() as misp:
            for name in names:
                answer = await misp.post("/admin/organisations/add", json={"name": name, "description": "by hand"})
                assert answer.status_code == 200, answer.text

    asyncio.run(add())


def logs_json(ws: Workspace, *args: str) -> dict[str, Any]:
    result = invoke(ws, "logs", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_run_shows_misp_rows_for_exactly_that_runs_requests(ws: Workspace) -> None:
    ws.write("orgs.yaml", MANIFEST)
    add_orgs(ws, "Before The Run")
    applied = ws.apply()
    assert applied.run_id is not None and applied.result is not None and applied.result.ok
    add_orgs(ws, "After The Run")
    desired = ws.load()
    ids = run_request_ids(open_state(desired, ws.options()).audit("sandbox", run_id=applied.run_id))
    assert ids
    data = logs_json(ws, "--run", str(applied.run_id))
    rows = data["rows"]
    # exactly the two creates of the run: not the orgs added by hand before and after it
    assert sorted(row["model_title"] for row in rows) == ["Run Org A", "Run Org B"]
    assert {row["request_id"] for row in rows} <= set(ids)
    assert all(row["model"] == "Organisation" and row["action"] == "add" for row in rows)
    # and their twins in the application log, matched by model, id, action and moment
    assert sorted(row["title"] for row in data["application_log"]) == ["Run Org A", "Run Org B"]
    assert {row["model_id"] for row in data["application_log"]} == {row["model_id"] for row in rows}
    text = invoke(ws, "logs", "--run", str(applied.run_id))
    assert text.exit_code == 0 and "Run Org A" in text.stdout and "2 row(s)" in text.stdout


def test_an_unknown_run_is_an_error(ws: Workspace) -> None:
    ws.write("orgs.yaml", MANIFEST)
    result = invoke(ws, "logs", "--run", "42")
    assert result.exit_code == 1 and "recorded no request" in result.stderr


def test_filters_and_paging_go_to_misp(ws: Workspace) -> None:
    ws.write("orgs.yaml", "organisations: []\n")
    names = [f"Paged Org {i}" for i in range(5)]
    add_orgs(ws, *names)
    everything = logs_json(ws, "--model", "Organisation", "--action", "add", "--limit", "100")["rows"]
    assert [row["title"] for row in everything] == names  # oldest first, as MISP pages them
    first = logs_json(ws, "--model", "Organisation", "--action", "add", "--limit", "2")
    second = logs_json(ws, "--model", "Organisation", "--action", "add", "--limit", "2", "--page", "2")
    assert len(first["rows"]) == 2 and first["has_more"]
    assert [r["id"] for r in second["rows"]] == [r["id"] for r in everything[2:4]]
    assert all(r["model"] == "Organisation" and r["action"] == "add" for r in everything)
    text = logs_json(ws, "--text", "paged org 3")["rows"]
    assert [r["model_id"] for r in text] == [r["model_id"] for r in everything if r["title"] == "Paged Org 3"]
    assert logs_json(ws, "--user", "admin@admin.test", "--model", "Organisation")["rows"]
    assert logs_json(ws, "--user", "nobody@example.test")["rows"] == []
    assert logs_json(ws, "--since", "2999-01-01T00:00:00+00:00")["rows"] == []
    assert len(logs_json(ws, "--until", "2999-01-01", "--model", "Organisation", "--limit", "100")["rows"]) == \
        len(everything)
    audit = logs_json(ws, "--audit", "--user", "admin@admin.test", "--model", "Organisation", "--limit", "100")
    assert len(audit["rows"]) == len(everything) and all(r["user_id"] == "1" for r in audit["rows"])


def test_text_output_and_bad_dates(ws: Workspace) -> None:
    ws.write("orgs.yaml", "organisations: []\n")
    add_orgs(ws, "Shown Org")
    result = invoke(ws, "logs", "--model", "Organisation")
    assert result.exit_code == 0 and "Shown Org" in result.stdout and "row(s)" in result.stdout
    bad = invoke(ws, "logs", "--since", "yesterday")
    assert bad.exit_code == 1 and "ISO 8601" in bad.stderr


def test_named_params_are_cakephp_paths() -> None:
    assert named_path("/admin/logs/index", {"model": "User", "action": "edit", "limit": 50, "page": 2}) == \
        "/admin/logs/index/model:User/action:edit/limit:50/page:2"
    assert LogQuery(since="2026-11-29T03:00:00+02:00").filters() == {"from": "2026-11-29 01:00:00"}


def test_audit_filters_speak_both_misp_and_sandbox_names() -> None:
    query = LogQuery(audit=True, email="admin@admin.test", user_id="1", since="2026-11-29")
    assert query.filters() == {"user": "admin@admin.test", "user_id": "1", "from": "2026-11-29",
                               "created": "2026-11-29"}

"""Workers, tasks and jobs with background jobs off (workers--tasks-jobs-workers), and the sandbox-only schedules."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox import SandboxApp

JOBS_OFF = "Background jobs are not enabled on this instance."


@pytest.mark.parametrize("path", ["/tasks/index", "/jobs/index", "/jobs/index/default"])
async def test_task_and_job_indexes_say_background_jobs_are_off(sandbox_http: httpx.AsyncClient, path: str) -> None:
    answer = await sandbox_http.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"name": JOBS_OFF, "message": JOBS_OFF, "url": path}


async def test_workers_and_missing_jobs(sandbox_http: httpx.AsyncClient) -> None:
    assert (await sandbox_http.get("/servers/getWorkers")).json() == ["Background jobs not enabled"]
    missing = await sandbox_http.get("/jobs/getGenerateCorrelationProgress/999999")
    assert missing.status_code == 404 and missing.json()["message"] == "No jobs found"
    assert (await sandbox_http.get("/jobs/status/999999")).status_code == 404


async def test_set_task_redirects_to_the_task_list(sandbox_http: httpx.AsyncClient) -> None:
    answer = await sandbox_http.post("/tasks/setTask", json={"Task": {"1": {"timer": 0, "scheduled_time": "12:00"}}})
    assert answer.status_code == 302 and answer.headers["location"] == "http://127.0.0.1:8080/tasks"


async def test_schedules_add_replace_list_delete_and_log(sandbox_app: SandboxApp,
                                                         sandbox_http: httpx.AsyncClient) -> None:
    assert (await sandbox_http.get("/sandbox/schedules")).json() == []
    added = await sandbox_http.post("/sandbox/schedules", json={"name": "pull-all", "command": "Server pullAll",
                                                                "every": "1h"})
    assert added.json() == {"Schedule": {"name": "pull-all", "command": "Server pullAll", "every": "1h"}}
    await sandbox_http.post("/sandbox/schedules", json={"name": "cache-feeds", "command": "Server cacheFeed",
                                                        "at": "03:30", "user": "admin@admin.test"})
    await sandbox_http.post("/sandbox/schedules", json={"name": "pull-all", "command": "Server pullAll",
                                                        "at": "04:00"})  # replaces by name
    assert (await sandbox_http.get("/sandbox/schedules")).json() == [
        {"name": "cache-feeds", "command": "Server cacheFeed", "at": "03:30", "user": "admin@admin.test"},
        {"name": "pull-all", "command": "Server pullAll", "at": "04:00"}]
    assert (await sandbox_http.delete("/sandbox/schedules/pull-all")).json()["message"] == "Schedule deleted"
    assert [s["name"] for s in (await sandbox_http.get("/sandbox/schedules")).json()] == ["cache-feeds"]
    assert (await sandbox_http.delete("/sandbox/schedules/pull-all")).status_code == 404
    with sandbox_app.state.store.transaction():
        actions = [r["action"] for r in sandbox_app.state.store.find("logs", model="Schedule")]
    assert actions == ["add", "add", "edit", "delete"]


@pytest.mark.parametrize(("body", "field"), [
    ({"command": "x", "every": "1h"}, "name"),
    ({"name": "bad name!", "command": "x", "every": "1h"}, "name"),
    ({"name": "a", "every": "1h"}, "command"),
    ({"name": "a", "command": "x"}, "when"),
    ({"name": "a", "command": "x", "every": "1h", "at": "01:00"}, "when"),
    ({"name": "a", "command": "x", "every": "hourly"}, "every"),
    ({"name": "a", "command": "x", "at": "25:00"}, "at"),
])
async def test_bad_schedules_are_refused(sandbox_http: httpx.AsyncClient, body: dict[str, str], field: str) -> None:
    answer = await sandbox_http.post("/sandbox/schedules", json=body)
    assert answer.status_code == 403 and field in answer.json()["errors"]
    assert (await sandbox_http.get("/sandbox/schedules")).json() == []


async def test_schedules_and_workers_are_site_admin_only(sandbox_http: httpx.AsyncClient) -> None:
    user = (await sandbox_http.post("/admin/users/add", json={"email": "oa@x.test", "org_id": "1",
                                                              "role_id": "2"})).json()["User"]
    key = (await sandbox_http.post(f"/auth_keys/add/{user['id']}", json={})).json()["AuthKey"]["authkey_raw"]
    headers = {"Authorization": key}
    for path in ("/sandbox/schedules", "/servers/getWorkers"):
        answer = await sandbox_http.get(path, headers=headers)
        assert answer.status_code == 403, path

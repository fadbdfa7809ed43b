"""Workers, scheduled tasks and jobs (transcript workers--tasks-jobs-workers), plus the sandbox's own schedules.

The recorded instance runs with background jobs off (`MISP.background_jobs` false), which is what the sandbox
twins: the task and job indexes answer 404 "Background jobs are not enabled", getWorkers a one-line list.

NOT MISP: `/sandbox/schedules` (GET lists, POST adds or replaces by name, DELETE `/sandbox/schedules/{name}`,
site admins only) records what an instance would run on a schedule, so the engine's `schedules` kind has
something to reconcile against. Each schedule is `{"name", "command", "every"}` or `{"name", "command", "at"}`,
optionally with `"user"`: `every` a period such as "1h"/"30m"/"1d", `at` a daily "HH:MM" time. Real MISP keeps
schedules in cron.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import JSON_TYPE, Ctx, misp_error, misp_json, route, validation_error
from reconciler.sandbox.store import Row

JOBS_OFF = "Background jobs are not enabled on this instance."
SCHEDULE_PREFIX = "sandbox:schedule:"  # rows of sandbox_settings that are schedules, not MISP settings
PERIOD_RE = re.compile(r"^[1-9]\d*[mhdw]$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@route("/tasks/index")
def tasks_index(ctx: Ctx) -> Response:
    raise ctx.not_found(JOBS_OFF)


@route("/tasks/setTask", methods=("POST",))
def set_task(ctx: Ctx) -> Response:
    # MISP answers a bodiless redirect to the task list even over the API, and changes nothing while
    # background jobs are off (workers--tasks-jobs-workers step 1).
    return Response("", status_code=302, media_type=None,
                    headers={"location": f"{ctx.app_state.base_url}/tasks", "content-type": JSON_TYPE})


@route("/jobs/index")
def jobs_index(ctx: Ctx) -> Response:
    raise ctx.not_found(JOBS_OFF)


@route("/jobs/getGenerateCorrelationProgress")
def correlation_progress(ctx: Ctx) -> Response:
    raise ctx.not_found("No jobs found")


@route("/servers/getWorkers")
def get_workers(ctx: Ctx) -> Response:
    return misp_json(["Background jobs not enabled"])


# -- sandbox-only schedules ------------------------------------------------------------------------------

def schedule_json(row: Row) -> dict[str, Any]:
    return {"name": row["name"][len(SCHEDULE_PREFIX):], **json.loads(row["value"])}


def schedule_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not NAME_RE.match(str(data.get("name", ""))):
        errors["name"] = ["A name of letters, digits, '_', '.' or '-' is required."]
    if not isinstance(data.get("command"), str) or not data["command"].strip():
        errors["command"] = ["A command is required."]
    every, at = data.get("every"), data.get("at")
    if (every is None) == (at is None):
        errors["when"] = ["Give exactly one of every (1h, 30m, 1d, 1w) or at (HH:MM)."]
    elif every is not None and not PERIOD_RE.match(str(every)):
        errors["every"] = ["A period such as 30m, 1h, 1d or 1w."]
    elif at is not None and not TIME_RE.match(str(at)):
        errors["at"] = ["A daily time HH:MM."]
    return errors


@route("/sandbox/schedules", methods=("GET", "POST", "DELETE"), wrong_method=None)
def schedules(ctx: Ctx) -> Response:
    if ctx.method == "GET":
        rows = [r for r in ctx.store.all("sandbox_settings") if r["name"].startswith(SCHEDULE_PREFIX)]
        return misp_json([schedule_json(r) for r in sorted(rows, key=lambda r: r["name"])])
    if ctx.method == "DELETE":
        return delete_schedule(ctx)
    data = ctx.data("Schedule")
    if errors := schedule_errors(data):
        raise validation_error("Could not save Schedule", ctx.url, errors)
    when = {"every": data["every"]} if data.get("every") is not None else {"at": data["at"]}
    if data.get("user") is not None:  # the MISP user the job runs as (the schedules kind's optional `user`)
        when["user"] = str(data["user"])
    key = SCHEDULE_PREFIX + data["name"]
    action = "edit" if ctx.store.count("sandbox_settings", name=key) else "add"
    ctx.store.delete("sandbox_settings", name=key)
    ctx.store.insert("sandbox_settings", {"name": key, "value": json.dumps({"command": data["command"], **when})})
    ctx.log("Schedule", 0, action, f"Schedule: {data['name']}", f"command ({data['command']}) {when}")
    return misp_json({"Schedule": {"name": data["name"], "command": data["command"], **when}})


def delete_schedule(ctx: Ctx) -> Response:
    name = ctx.args[0] if ctx.args else ""
    if not ctx.store.delete("sandbox_settings", name=SCHEDULE_PREFIX + name):
        raise misp_error(404, "Invalid schedule", ctx.url)
    ctx.log("Schedule", 0, "delete", f"Schedule: {name}")
    return misp_json({"saved": True, "success": True, "name": "Schedule deleted", "message": "Schedule deleted",
                      "url": ctx.url})

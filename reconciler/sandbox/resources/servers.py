"""Sync servers (transcripts servers--*): add and edit answers echo the remote's key, the index never does;
an empty authkey on edit keeps the stored one; delete answers with MISP's odd url/id."""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_json, route, validation_error
from reconciler.sandbox.resources.organisations import find_org
from reconciler.sandbox.store import Row

BOOLS = ("push", "pull", "push_sightings", "push_galaxy_clusters", "push_analyst_data", "pull_analyst_data",
         "pull_galaxy_clusters", "publish_without_email", "unpublish_event", "self_signed", "internal",
         "skip_proxy", "remove_missing_tags", "caching_enabled")
EMPTY_PULL: dict[str, Any] = {"tags": {"OR": [], "NOT": []}, "orgs": {"OR": [], "NOT": []}, "type_attributes": {"NOT": []},
              "type_objects": {"NOT": []}, "url_params": ""}
EMPTY_PUSH: dict[str, Any] = {"tags": {"OR": [], "NOT": []}, "orgs": {"OR": [], "NOT": []}}


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def server_json(row: Row, *, with_key: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"]), "name": row["name"], "url": row["url"]}
    if with_key:
        body["authkey"] = row["authkey"]
    body["org_id"] = str(row["org_id"])
    for name in ("push", "pull", "push_sightings", "push_galaxy_clusters", "push_analyst_data", "pull_analyst_data",
                 "pull_galaxy_clusters"):
        body[name] = bool(row[name])
    body.update({"lastpulledid": row["lastpulledid"], "lastpushedid": row["lastpushedid"],
                 "organization": row["organization"], "remote_org_id": str(row["remote_org_id"])})
    for name in ("publish_without_email", "unpublish_event", "self_signed"):
        body[name] = bool(row[name])
    body.update({"pull_rules": row["pull_rules"], "push_rules": row["push_rules"], "cert_file": row["cert_file"],
                 "client_cert_file": row["client_cert_file"]})
    for name in ("internal", "skip_proxy", "remove_missing_tags", "caching_enabled"):
        body[name] = bool(row[name])
    body["priority"] = str(row["priority"])
    return body


def org_summary(row: Row | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {"id": str(row["id"]), "name": row["name"], "uuid": row["uuid"], "nationality": row["nationality"] or "",
            "sector": row["sector"] or "", "type": row["type"] or ""}


@route("/servers/index")
def index(ctx: Ctx) -> Response:
    return misp_json([{"Server": {**server_json(r, with_key=False), "cache_timestamp": False},
                       "Organisation": org_summary(ctx.store.get("organisations", r["org_id"])),
                       "RemoteOrg": org_summary(ctx.store.get("organisations", r["remote_org_id"])), "User": []}
                      for r in ctx.store.all("servers")])


def server_values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in BOOLS:
        if name in data:
            values[name] = int(data[name] not in (False, 0, "0", "", None, "false"))
    for name in ("name", "url"):
        if name in data:
            values[name] = str(data[name]).rstrip("/") if name == "url" else data[name]
    if data.get("authkey"):  # an empty key leaves the stored one (servers--crud)
        values["authkey"] = data["authkey"]
    for name in ("push_rules", "pull_rules"):
        if name in data:
            values[name] = data[name] if isinstance(data[name], str) else compact(data[name])
    if "remote_org_id" in data:
        values["remote_org_id"] = int(data["remote_org_id"])
    return values


@route("/servers/add", methods=("POST",))
def add(ctx: Ctx) -> Response:
    data = ctx.data("Server")
    errors = {name: ["This field cannot be left blank."] for name in ("url", "authkey") if not data.get(name)}
    remote = find_org(ctx.store, str(data.get("remote_org_id", ""))) if data.get("remote_org_id") else None
    if remote is None:
        errors["remote_org_id"] = ["Invalid remote organisation"]
    if errors:
        raise validation_error("Could not add Server", ctx.url, errors)
    assert ctx.user is not None
    values = {"org_id": ctx.user["org_id"], "pull_rules": compact(EMPTY_PULL), "push_rules": compact(EMPTY_PUSH),
              "priority": 1, "name": data.get("name") or data["url"], **server_values(data)}
    values["remote_org_id"] = remote["id"]  # type: ignore[index]
    row = ctx.store.insert("servers", values)  # `priority` is ignored on add: MISP appends (reference)
    ctx.log("Server", row["id"], "add", f"Server ({row['id']}): {row['url']}")
    return misp_json({"Server": server_json(row, with_key=True)})


@route("/servers/edit", methods=("POST", "PUT"))
def edit(ctx: Ctx) -> Response:
    row = ctx.store.get("servers", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid server")
    data = ctx.data("Server")
    values = server_values(data)
    if "priority" in data:
        values["priority"] = int(data["priority"])
    updated = ctx.store.update("servers", row["id"], values)
    ctx.log("Server", row["id"], "edit", f"Server ({row['id']}): {updated['url']}")
    return misp_json({"Server": server_json(updated, with_key=True)})


@route("/servers/delete", methods=("POST", "DELETE"))
def delete(ctx: Ctx) -> Response:
    row = ctx.store.get("servers", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid server")
    ctx.store.delete("servers", id=row["id"])
    ctx.log("Server", row["id"], "delete", f"Server ({row['id']}): {row['url']}")
    # MISP puts its message where the id belongs (servers--crud).
    return misp_json({"saved": True, "success": True, "name": "Server deleted", "message": "Server deleted",
                      "url": "/servers/delete/Server deleted", "id": "Server deleted"})


@route("/servers/testConnection", methods=("GET", "POST"), transactional=False)
async def test_connection(ctx: Ctx) -> Response:
    """Calls the remote's getVersion with the stored key, outside the database transaction."""
    with ctx.store.transaction():
        row = ctx.store.get("servers", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid server")
    transport = ctx.app_state.extra.get("remote_transports", {}).get(row["url"])
    try:
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            answer = await client.get(f"{row['url']}/servers/getVersion", headers={
                "Authorization": row["authkey"], "Accept": "application/json"})
    except httpx.HTTPError:
        return misp_json({"status": 2})
    if answer.status_code in (401, 403):
        return misp_json({"status": 4})
    try:
        version = answer.json()
    except ValueError:
        return misp_json({"status": 3})
    local = "2.5.1"
    return misp_json({"status": 1, "local_version": local, "version": version.get("version"),
                      "mismatch": False if version.get("version") == local else "patch",
                      "newer": "local" if version.get("version") != local else False,
                      "post": 1, "client_certificate": None, "perm_sync": version.get("perm_sync", False),
                      "perm_sighting": version.get("perm_sighting", False),
                      "perm_galaxy_editor": version.get("perm_galaxy_editor", False),
                      "perm_analyst_data": version.get("perm_analyst_data", False)})

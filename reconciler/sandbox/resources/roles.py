"""Roles (transcripts roles--*): permission levels drive the four event flags on every save."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import (
    INTERNAL_ERROR,
    Ctx,
    MispAbort,
    change_text,
    deleted,
    misp_error,
    misp_json,
    now_text,
    route,
    validation_error,
)
from reconciler.sandbox.resources.identity import ALL_PERMS
from reconciler.sandbox.store import Row, Store

LEVELS = ("read_only", "manage_own", "manage_org", "publish")
EVENT_FLAGS = ("perm_add", "perm_modify", "perm_modify_org", "perm_publish")
FLAGS_OF_LEVEL = {0: (0, 0, 0, 0), 1: (1, 1, 0, 0), 2: (1, 1, 1, 0), 3: (1, 1, 1, 1)}


def default_role_id(store: Store) -> int:
    row = store.first("admin_settings", setting="default_role")
    return int(row["value"]) if row else 3


def level_of(row: Row) -> int:
    flags = tuple(int(bool(row[f])) for f in EVENT_FLAGS)
    return next((level for level, wanted in sorted(FLAGS_OF_LEVEL.items(), reverse=True) if flags == wanted), 0)


def role_json(row: Row, *, default: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"]), "name": row["name"], "created": row["created"],
                            "modified": row["modified"]}
    for flag in ALL_PERMS[:17]:
        body[flag] = bool(row[flag])
    body["default_role"] = bool(row["default_role"])
    body["memory_limit"] = row["memory_limit"]
    body["max_execution_time"] = row["max_execution_time"]
    body["restricted_to_site_admin"] = bool(row["restricted_to_site_admin"])
    for flag in ("perm_publish_zmq", "perm_publish_kafka", "perm_decaying"):
        body[flag] = bool(row[flag])
    body["enforce_rate_limit"] = bool(row["enforce_rate_limit"])
    body["rate_limit_count"] = str(row["rate_limit_count"] or 0)
    for flag in ("perm_galaxy_editor", "perm_warninglist", "perm_view_feed_correlations", "perm_analyst_data",
                 "perm_skip_otp"):
        body[flag] = bool(row[flag])
    level = level_of(row)
    body["permission"] = str(level)
    body["permission_description"] = LEVELS[level]
    if default is not None:
        body["default"] = default
    return body


def parse_level(value: Any) -> int:
    """0-3 or a level name; anything else counts as 0, as MISP does (reference §5)."""
    if isinstance(value, str) and value in LEVELS:
        return LEVELS.index(value)
    try:
        level = int(value)
    except (TypeError, ValueError):
        return 0
    return level if 0 <= level <= 3 else 0


def flag(value: Any) -> int:
    return int(value not in (False, 0, "0", "", None, "false"))


def values_from(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ALL_PERMS:
        if name in data:
            values[name] = flag(data[name])
        elif creating:
            values[name] = 0
    # `permission` rewrites the event flags on every save; missing counts as 0 (roles--crud quirk).
    level = parse_level(data.get("permission"))
    values.update(dict(zip(EVENT_FLAGS, FLAGS_OF_LEVEL[level], strict=True)))
    for name in ("memory_limit", "max_execution_time"):
        if name in data:
            values[name] = "" if data[name] is None else str(data[name])
        elif creating:
            values[name] = ""
    for name in ("restricted_to_site_admin", "enforce_rate_limit"):
        if name in data:
            values[name] = flag(data[name])
    # Like `permission`, a count the body leaves out is saved as 0, on edits too (transcript roles--crud).
    values["rate_limit_count"] = int(data.get("rate_limit_count") or 0)
    return values


@route("/roles/index", access="user")
def index(ctx: Ctx) -> Response:
    default = default_role_id(ctx.store)
    return misp_json([{"Role": role_json(r, default=r["id"] == default)} for r in ctx.store.all("roles")])


@route("/roles/view", access="user")
def view(ctx: Ctx) -> Response:
    row = ctx.store.get("roles", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Role.")
    return misp_json({"Role": role_json(row)})


def check_name(ctx: Ctx, name: Any, current: Row | None, failure: str, url: str) -> str:
    text = str(name or "").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["name"] = ["Name cannot be empty."]  # roles--errors step 3
    elif any(r["name"] == text and (current is None or r["id"] != current["id"]) for r in ctx.store.all("roles")):
        errors["name"] = ["A role with this name already exists."]
    if errors:
        raise validation_error(failure, url, errors)
    return text


EDIT_DESCRIPTION = {
    "name": "/admin/roles/edit API description",
    "description": "POST a Role object in JSON format to this API to edit a role. 'permission' sets the data access "
                   "permission (0 => read only, 1 => add/edit own, 2 => add/edit org, 3 => publish)",
    "mandatory_fields": ["name"],
    "optional_fields": ["perm_delegate", "perm_sync", "perm_admin", "perm_audit", "perm_auth", "perm_site_admin",
                        "perm_regexp_access", "perm_tagger", "perm_template", "perm_sharing_group", "perm_tag_editor",
                        "default_role", "perm_sighting", "permission"],
    "url": "/admin/roles/edit",
}


@route("/admin/roles/add", methods=("POST",), wrong_method=None)
def add(ctx: Ctx) -> Response:
    data = ctx.data("Role") if ctx.method == "POST" else {}
    if "name" not in data:  # MISP fails hard on a body without name, and on GET (roles--errors)
        raise misp_error(500, INTERNAL_ERROR, ctx.url)
    name = check_name(ctx, data.get("name"), None, "Could not add role", ctx.url)
    now = now_text()
    row = ctx.store.insert("roles", {"name": name, "created": now, "modified": now, "default_role": 0,
                                     **values_from(data, creating=True)})
    ctx.log("Role", row["id"], "add", name, change_text({}, row, row))
    return misp_json({"Role": role_json(row)})


@route("/admin/roles/edit", methods=("POST", "PUT"), wrong_method=None)
def edit(ctx: Ctx) -> Response:
    row = ctx.store.get("roles", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Role")
    if ctx.method not in ("POST", "PUT"):
        return misp_json(EDIT_DESCRIPTION)
    data = ctx.data("Role")
    values = values_from(data, creating=False)
    if "name" in data:
        values["name"] = check_name(ctx, data["name"], row, "Could not edit Role", "/admin/roles/edit")
    updated = ctx.store.update("roles", row["id"], values)
    ctx.log("Role", row["id"], "edit", updated["name"], change_text(row, updated, values))
    return misp_json({"Role": role_json(updated)})


@route("/admin/roles/delete", methods=("POST", "DELETE"), wrong_method=None)
def delete(ctx: Ctx) -> Response:
    row = ctx.store.get("roles", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Role.")
    if ctx.store.count("users", role_id=row["id"]):  # refused whatever the method (reference §5 BUG note)
        raise MispAbort(misp_json({"saved": False, "name": "Could not delete Role", "message": "Could not delete Role",
                                   "url": f"/roles/delete/{row['id']}", "errors":
                                   "It is not possible to delete role that is assigned to users.", "id": row["id"]},
                                  403))
    if ctx.method not in ("POST", "DELETE"):
        return misp_json({"name": "/admin/roles/delete API description", "url": "/admin/roles/delete"})
    ctx.store.delete("roles", id=row["id"])
    ctx.log("Role", row["id"], "delete", row["name"])
    return deleted("Role deleted.", f"/roles/delete/{row['id']}", row["id"])


@route("/admin/roles/set_default", methods=("POST",))
def set_default(ctx: Ctx) -> Response:
    row = ctx.store.get("roles", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise validation_error("Could not set default role", ctx.url, "Invalid Role.")
    ctx.store.delete("admin_settings", setting="default_role")
    ctx.store.insert("admin_settings", {"setting": "default_role", "value": str(row["id"])})
    ctx.log("AdminSetting", 0, "edit", "AdminSetting (default_role)", change_text({}, {"value": row["id"]}, ["value"]))
    return misp_json({"saved": True, "success": True, "name": "Default role set.", "message": "Default role set.",
                      "url": ctx.url})

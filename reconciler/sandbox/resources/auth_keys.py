"""Advanced auth keys (transcript auth_keys--crud, reference identity §4): hashed, shown in clear once."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import (
    Ctx,
    change_text,
    deleted,
    generate_key,
    hash_key,
    misp_error,
    misp_json,
    new_uuid,
    now_epoch,
    route,
    validation_error,
)
from reconciler.sandbox.store import Row

NOT_ALLOWED = "Invalid user or insufficient privileges to interact with an authkey for the given user."


def key_json(row: Row, *, edited: bool = False) -> dict[str, Any]:
    allowed = json.loads(row["allowed_ips"]) if row["allowed_ips"] else None
    return {"id": str(row["id"]), "uuid": row["uuid"], "authkey_start": row["authkey_start"],
            "authkey_end": row["authkey_end"], "created": str(row["created"]),
            # an edit echoes what it saved: expiration an int, allowed_ips the JSON string (auth_keys--crud)
            "expiration": int(row["expiration"] or 0) if edited else str(row["expiration"] or 0),
            "read_only": bool(row["read_only"]), "user_id": str(row["user_id"]), "comment": row["comment"],
            "allowed_ips": (row["allowed_ips"] if allowed else None) if edited else allowed,
            "unique_ips": None if edited else []}


def with_user(ctx: Ctx, row: Row) -> dict[str, Any]:
    user = ctx.store.get("users", row["user_id"])
    return {"AuthKey": key_json(row), "User": {"id": str(row["user_id"]), "email": user["email"] if user else None}}


def allowed_ips(value: Any) -> str | None:
    if value in (None, "", []):
        return None
    items = value if isinstance(value, list) else [v.strip() for v in str(value).replace(",", "\n").splitlines()]
    items = [i for i in items if i]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item} is not valid IP range") from None
    return json.dumps(items, separators=(",", ":"))  # stored as PHP's json_encode writes it


def expiration(value: Any) -> int:
    if value in (None, "", 0, "0"):
        return 0
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    return int(dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time(), dt.UTC).timestamp())


def may_manage(ctx: Ctx, user: Row | None) -> bool:
    if user is None:
        return False
    if ctx.is_site_admin or (ctx.user is not None and user["id"] == ctx.user["id"]):
        return True
    return ctx.is_org_admin and ctx.user is not None and user["org_id"] == ctx.user["org_id"]


def may_add_for(ctx: Ctx, user: Row | None) -> bool:
    """Who may get a new key from this caller (reference identity §4): site admins any user, anyone
    themselves, org admins enabled users without admin rights whose role has perm_auth. MISP does not
    compare the target's org on add (a bug the reference records), so neither do we; edit/delete do."""
    if user is None:
        return False
    if ctx.is_site_admin or (ctx.user is not None and user["id"] == ctx.user["id"]):
        return True
    if not ctx.is_org_admin or user["disabled"]:
        return False
    role = ctx.store.get("roles", user["role_id"])
    return role is not None and bool(role["perm_auth"]) and not role["perm_admin"] and not role["perm_site_admin"]


def refuse_read_only(ctx: Ctx) -> None:
    """add/edit/delete need a key that is not read-only (MISP's ACL check not_read_only_authkey)."""
    if ctx.authkey is not None and ctx.authkey["read_only"]:
        raise ctx.deny()


def visible_keys(ctx: Ctx) -> list[Row]:
    keys = ctx.store.all("auth_keys")
    if ctx.is_site_admin:
        return keys
    users = {u["id"]: u for u in ctx.store.all("users")}
    return [k for k in keys if may_manage(ctx, users.get(k["user_id"]))]


@route("/auth_keys/index", access="user")
def index(ctx: Ctx) -> Response:
    keys = visible_keys(ctx)
    if ctx.args and ctx.args[0].isdigit():
        keys = [k for k in keys if k["user_id"] == int(ctx.args[0])]
    if "comment" in ctx.named:
        keys = [k for k in keys if (k["comment"] or "") == ctx.named["comment"]]
    return misp_json([with_user(ctx, k) for k in keys])


@route("/auth_keys/view", access="user")
def view(ctx: Ctx) -> Response:
    row = ctx.store.get("auth_keys", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None or row["id"] not in {k["id"] for k in visible_keys(ctx)}:
        raise ctx.not_found("Invalid AuthKey.")
    return misp_json(with_user(ctx, row))


def key_values(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        if "allowed_ips" in data:
            values["allowed_ips"] = allowed_ips(data["allowed_ips"])
        if "expiration" in data:
            values["expiration"] = expiration(data["expiration"])
    except ValueError as exc:
        raise validation_error("Could not save AuthKey", ctx.url, {"allowed_ips": [str(exc)]}) from None
    if "comment" in data:
        values["comment"] = data["comment"]
    if "read_only" in data:
        values["read_only"] = int(data["read_only"] not in (False, 0, "0", "", None, "false"))
    return values


@route("/auth_keys/add", methods=("POST",), access="user")
def add(ctx: Ctx) -> Response:
    assert ctx.user is not None
    refuse_read_only(ctx)
    ident = ctx.args[0] if ctx.args else "me"
    user = ctx.user if ident == "me" else ctx.store.get("users", ident) if ident.isdigit() else None
    if not may_add_for(ctx, user):
        raise misp_error(405, NOT_ALLOWED, ctx.url)
    assert user is not None
    key = generate_key()
    row = ctx.store.insert("auth_keys", {
        "uuid": new_uuid(), "authkey": hash_key(key), "authkey_start": key[:4], "authkey_end": key[-4:],
        "created": now_epoch(), "expiration": 0, "read_only": 0, "user_id": user["id"], "comment": None,
        "allowed_ips": None, **key_values(ctx, ctx.data("AuthKey"))})
    # AuthKey has no display field: titled "Model (id)" like MISP's AdminSetting rows (logs--org-lifecycle)
    ctx.log("AuthKey", row["id"], "add", f"AuthKey ({row['id']})", change_text({}, row, row))
    return misp_json({"AuthKey": {**key_json(row), "authkey_raw": key}})


@route("/auth_keys/edit", methods=("POST", "PUT"), access="user")
def edit(ctx: Ctx) -> Response:
    refuse_read_only(ctx)
    row = ctx.store.get("auth_keys", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None or row["id"] not in {k["id"] for k in visible_keys(ctx)}:
        raise ctx.not_found("Invalid AuthKey.")
    updated = ctx.store.update("auth_keys", row["id"], key_values(ctx, ctx.data("AuthKey")))
    ctx.log("AuthKey", row["id"], "edit", f"AuthKey ({row['id']})", change_text(row, updated, updated))
    # The edit answer carries the owner's id and org, not the email the index/view show (auth_keys--crud).
    owner = ctx.store.get("users", updated["user_id"])
    return misp_json({"AuthKey": key_json(updated, edited=True),
                      "User": {"id": str(updated["user_id"]), "org_id": str(owner["org_id"]) if owner else None}})


@route("/auth_keys/delete", methods=("POST", "DELETE"), access="user")
def delete(ctx: Ctx) -> Response:
    refuse_read_only(ctx)
    row = ctx.store.get("auth_keys", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None or row["id"] not in {k["id"] for k in visible_keys(ctx)}:
        raise ctx.not_found("Invalid AuthKey.")
    ctx.store.delete("auth_keys", id=row["id"])
    ctx.log("AuthKey", row["id"], "delete", f"AuthKey ({row['id']})")
    return deleted("AuthKey deleted.", ctx.url, row["id"])

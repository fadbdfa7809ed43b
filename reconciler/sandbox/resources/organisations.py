"""Organisations (transcripts organisations--*): local and external, scopes, view by id/uuid/name."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import (
    HTML_TYPE,
    INTERNAL_ERROR,
    Ctx,
    change_text,
    deleted,
    misp_error,
    misp_json,
    new_uuid,
    now_text,
    route,
    validation_error,
)
from reconciler.sandbox.store import Row, Store

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
WRITABLE = ("name", "description", "type", "nationality", "sector", "uuid", "contacts", "local",
            "restricted_to_domain", "landingpage")
ADD_DESCRIPTION = {
    "name": "/admin/organisations/add API description",
    "description": "POST an Organisation object in JSON format to this API to create a new organsiation.",
    "mandatory_fields": ["name"],
    "optional_fields": ["description", "type", "nationality", "sector", "uuid", "contacts", "local"],
    "url": "/admin/organisations/add",
}


def domains_json(value: Any) -> str:
    if isinstance(value, str):
        value = [d.strip() for d in value.replace("\n", ",").split(",") if d.strip()]
    return json.dumps(list(value or []), separators=(",", ":"))  # as PHP's json_encode stores it


def org_json(row: Row) -> dict[str, Any]:
    domains = row.get("restricted_to_domain")
    parsed = json.loads(domains) if domains else None
    return {
        "id": str(row["id"]), "name": row["name"], "date_created": row["date_created"],
        "date_modified": row["date_modified"], "description": row["description"], "type": row["type"] or "",
        "nationality": row["nationality"] or "", "sector": row["sector"] or "",
        "created_by": str(row["created_by"]), "uuid": row["uuid"], "contacts": row["contacts"],
        "local": bool(row["local"]), "restricted_to_domain": parsed,
        "landingpage": row["landingpage"],
    }


def find_org(store: Store, ident: str) -> Row | None:
    """By id, uuid or name, as /organisations/view accepts."""
    if ident.isdigit():
        return store.get("organisations", int(ident))
    if UUID_RE.match(ident):
        return store.first("organisations", uuid=ident.lower())
    return store.find_ci("organisations", "name", ident)


def with_counts(store: Store, rows: list[Row], site_admin: bool) -> list[dict[str, Any]]:
    """user_count and (for site admins) created_by_email, from one read of the users (no query per org).

    Only site admins see who created an organisation: an org admin's index and view carry neither
    created_by nor created_by_email (auth--org-admin-refusals steps 14-15).
    """
    users = store.all("users")
    counts: dict[int, int] = {}
    for user in users:
        counts[user["org_id"]] = counts.get(user["org_id"], 0) + 1
    emails = {u["id"]: u["email"] for u in users}
    result = []
    for row in rows:
        org = org_json(row)
        org["user_count"] = str(counts.get(row["id"], 0))
        if site_admin:
            org["created_by_email"] = emails.get(row["created_by"], "Unknown")
        else:
            del org["created_by"]
        result.append(org)
    return result


@route("/organisations/index", access="user")
def index(ctx: Ctx) -> Response:
    # Only the CakePHP named parameter chooses the scope; ?scope= is ignored (organisations--list-scopes).
    scope = ctx.named.get("scope", "local")
    rows = ctx.store.all("organisations")
    if scope == "local":
        rows = [r for r in rows if r["local"]]
    elif scope == "external":
        rows = [r for r in rows if not r["local"]]
    term = ctx.named.get("searchall", "").lower()
    if term:
        rows = [r for r in rows if term in (r["name"] or "").lower() or term in (r["uuid"] or "")]
    return misp_json([{"Organisation": org} for org in with_counts(ctx.store, rows, ctx.is_site_admin)])


@route("/organisations/view", methods=("GET", "HEAD"), access="user")
def view(ctx: Ctx) -> Response:
    row = find_org(ctx.store, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Invalid organisation")
    if ctx.method == "HEAD":  # an existence check: 200, empty, labelled HTML (organisations--add-full-client-uuid)
        return Response("", media_type=None, headers={"content-type": HTML_TYPE})
    [org] = with_counts(ctx.store, [row], ctx.is_site_admin)
    org.pop("landingpage", None)
    return misp_json({"Organisation": org})


def validate(ctx: Ctx, data: dict[str, Any], current: Row | None, failure: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values = {k: data[k] for k in WRITABLE if k in data}
    if "name" in values:
        name = str(values["name"] or "").strip()
        same = ctx.store.find_ci("organisations", "name", name)
        # The uniqueness rule runs first: renaming to "" once a nameless org exists reports the duplicate
        # (organisations--errors steps 4 and 8).
        if same is not None and (current is None or same["id"] != current["id"]):
            errors["name"] = ["An organisation with this name already exists."]
        elif current is not None and not name:
            errors["name"] = ["Name cannot be empty."]
        values["name"] = name
    if values.get("uuid"):
        uuid = str(values["uuid"])
        if not UUID_RE.match(uuid):
            errors["uuid"] = ["Please provide a valid RFC 4122 UUID"]
        else:
            values["uuid"] = uuid.lower()
            same = ctx.store.first("organisations", uuid=uuid.lower())
            if same is not None and (current is None or same["id"] != current["id"]):
                errors["uuid"] = ["An organisation with this UUID already exists."]
    if errors:
        raise validation_error(failure, ctx.url if current is None else "/admin/organisations/edit", errors)
    if "local" in values:
        values["local"] = int(bool(values["local"]) and values["local"] not in ("0", "false"))
    if "restricted_to_domain" in values:
        values["restricted_to_domain"] = domains_json(values["restricted_to_domain"])
    return values


@route("/admin/organisations/add", methods=("POST",), wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":
        return misp_json(ADD_DESCRIPTION)  # GET and PUT describe the endpoint (organisations--errors)
    data = ctx.data("Organisation")
    if "name" not in data and data:
        raise misp_error(500, INTERNAL_ERROR, ctx.url)  # a body without name: MISP fails hard (recorded)
    values = validate(ctx, data, None, "Could not add Organisation")
    now = now_text()
    row = ctx.store.insert("organisations", {
        "name": values.pop("name", ""), "date_created": now, "date_modified": now, "created_by": ctx.user["id"]
        if ctx.user else 0, "uuid": values.pop("uuid", None) or new_uuid(), "local": 1, "description": None,
        **values})
    # The title is the org's name and the change lists what was saved, in MISP's order (logs--org-lifecycle).
    saved = ["created_by", "local", "name", *(k for k in WRITABLE if k in values and k != "local"), "uuid",
             "date_created", "date_modified"]
    ctx.log("Organisation", row["id"], "add", row["name"], change_text({}, row, dict.fromkeys(saved)))
    return misp_json({"Organisation": org_json(row)})


@route("/admin/organisations/edit", methods=("POST", "PUT"))
def edit(ctx: Ctx) -> Response:
    row = find_org(ctx.store, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Invalid organisation")
    values = validate(ctx, ctx.data("Organisation"), row, "Could not edit Organisation")
    if row["restricted_to_domain"] is None and "restricted_to_domain" not in values:
        values["restricted_to_domain"] = "[]"  # an edit saves the empty list ("restricted_to_domain () => ([])")
    updated = ctx.store.update("organisations", row["id"], {**values, "date_modified": now_text()})
    ctx.log("Organisation", row["id"], "edit", updated["name"], change_text(row, updated, values))
    return misp_json({"Organisation": org_json(updated)})


@route("/admin/organisations/delete", methods=("POST", "DELETE"))
def delete(ctx: Ctx) -> Response:
    row = find_org(ctx.store, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Invalid organisation")
    ctx.store.delete("organisations", id=row["id"])
    ctx.log("Organisation", row["id"], "delete", row["name"])
    return deleted("Organisation deleted", ctx.url, str(row["id"]))

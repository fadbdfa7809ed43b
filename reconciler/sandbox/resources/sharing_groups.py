"""Sharing groups (transcripts sharing_groups--*, reference identity §6): capture semantics on add, members
through addOrg/removeOrg, server 0 meaning this instance."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from starlette.responses import Response

from reconciler.sandbox.http import (
    ROUTES,
    Ctx,
    MispAbort,
    error_body,
    misp_error,
    misp_json,
    new_uuid,
    now_text,
    route,
    validation_error,
)
from reconciler.sandbox.resources.organisations import UUID_RE, find_org, org_json
from reconciler.sandbox.store import Row

NOT_VISIBLE = "Sharing group doesn&#039;t exist or you do not have permission to access it."


def sg_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "releasability": row["releasability"] or "",
            "description": row["description"] or "", "uuid": row["uuid"], "organisation_uuid": row["organisation_uuid"],
            "org_id": str(row["org_id"]), "sync_user_id": str(row["sync_user_id"]), "active": bool(row["active"]),
            "created": row["created"], "modified": row["modified"], "local": bool(row["local"]),
            "roaming": bool(row["roaming"])}


def short_org(row: Row | None) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "uuid": row["uuid"]} if row else {}


def members(ctx: Ctx, sg: Row, *, with_local: bool = False) -> list[dict[str, Any]]:
    result = []
    for m in ctx.store.find("sharing_group_orgs", sharing_group_id=sg["id"]):
        org = ctx.store.get("organisations", m["org_id"])
        nested = short_org(org)
        if with_local and org is not None:
            nested["local"] = bool(org["local"])
        result.append({"id": str(m["id"]), "sharing_group_id": str(sg["id"]), "org_id": str(m["org_id"]),
                       "extend": bool(m["extend"]), "Organisation": nested})
    return result


def servers(ctx: Ctx, sg: Row, *, nested: bool, local_details: bool = False) -> list[dict[str, Any]]:
    """Member servers; only the view describes server 0 ("Local instance"), the index gives it `[]`."""
    result = []
    for s in ctx.store.find("sharing_group_servers", sharing_group_id=sg["id"]):
        row: dict[str, Any] = {"id": str(s["id"]), "sharing_group_id": str(sg["id"]), "server_id": str(s["server_id"]),
                               "all_orgs": bool(s["all_orgs"])}
        server = ctx.store.get("servers", s["server_id"]) if s["server_id"] else None
        if nested and server is not None:
            row["Server"] = {"id": str(server["id"]), "name": server["name"], "url": server["url"]}
        elif local_details and not s["server_id"]:
            row["Server"] = {"id": "0", "name": "Local instance", "url": ctx.app_state.base_url}
        result.append(row)
    return result


def answer(ctx: Ctx, sg: Row) -> dict[str, Any]:
    return {"SharingGroup": sg_json(sg), "SharingGroupOrg": members(ctx, sg),
            "SharingGroupServer": servers(ctx, sg, nested=True),
            "Organisation": short_org(ctx.store.get("organisations", sg["org_id"]))}


def find_sg(ctx: Ctx, ident: str) -> Row | None:
    if ident.isdigit():
        return ctx.store.get("sharing_groups", int(ident))
    return ctx.store.first("sharing_groups", uuid=ident.lower()) if UUID_RE.match(ident) else None


def visible(ctx: Ctx, sg: Row, *, owner_counts: bool = False) -> bool:
    """Who sees a group. The view counts the owner org; the index and the add/edit answers do not
    (reference §6, visibility caveat)."""
    if ctx.is_site_admin:
        return True
    assert ctx.user is not None
    if owner_counts and sg["org_id"] == ctx.user["org_id"]:
        return True
    member = ctx.store.first("sharing_group_orgs", sharing_group_id=sg["id"], org_id=ctx.user["org_id"])
    everyone = ctx.store.first("sharing_group_servers", sharing_group_id=sg["id"], server_id=0, all_orgs=1)
    return member is not None or everyone is not None


def filtered_in(ctx: Ctx, sg: Row) -> bool:
    """The index's named filters: `value:` (name, description, releasability) and `searchorg:` (a member org)."""
    term = unquote(ctx.named.get("value", "")).lower()
    if term and not any(term in str(sg[k] or "").lower() for k in ("name", "description", "releasability")):
        return False
    if "searchorg" in ctx.named:
        org = find_org(ctx.store, unquote(ctx.named["searchorg"]))
        return org is not None and ctx.store.first("sharing_group_orgs", sharing_group_id=sg["id"],
                                                   org_id=org["id"]) is not None
    return True


@route("/sharing_groups/index", access="user")
def index(ctx: Ctx) -> Response:
    inactive = bool(ctx.args) and ctx.args[0] == "true"
    body = []
    for sg in ctx.store.all("sharing_groups"):
        if bool(sg["active"]) == inactive or not visible(ctx, sg) or not filtered_in(ctx, sg):
            continue
        listed = {k: v for k, v in sg_json(sg).items() if k in ("id", "uuid", "name", "description", "releasability",
                                                                 "local", "active", "roaming")}
        listed["org_count"] = str(ctx.store.count("sharing_group_orgs", sharing_group_id=sg["id"]))
        # The index embeds only {name, id} of a server, and `[]` for this instance's row 0
        # (sharing_groups--add-embedded-members step 8).
        rows = [{"all_orgs": s["all_orgs"], "server_id": s["server_id"], "sharing_group_id": s["sharing_group_id"],
                 "Server": {"name": s["Server"]["name"], "id": s["Server"]["id"]} if "Server" in s else []}
                for s in servers(ctx, sg, nested=True)]
        body.append({"SharingGroup": listed, "Organisation": short_org(ctx.store.get("organisations", sg["org_id"])),
                     "SharingGroupOrg": members(ctx, sg), "SharingGroupServer": rows,
                     "editable": True, "deletable": True})
    return misp_json({"response": body})


@route("/sharing_groups/view", access="user")
def view(ctx: Ctx) -> Response:
    sg = find_sg(ctx, ctx.args[0]) if ctx.args else None
    if sg is None or not visible(ctx, sg, owner_counts=True):
        raise misp_error(405, NOT_VISIBLE, ctx.url)
    owner = ctx.store.get("organisations", sg["org_id"])
    body = answer(ctx, sg)
    body["SharingGroupOrg"] = members(ctx, sg, with_local=True)
    body["SharingGroupServer"] = servers(ctx, sg, nested=True, local_details=True)
    body["SharingGroup"].update({"sync_org_name": owner["name"] if owner else "", "sync_org": short_org(owner)})
    body["Organisation"] = org_json(owner) if owner else {}
    return misp_json(body)


def capture_org(ctx: Ctx, entry: dict[str, Any]) -> Row:
    """A member by uuid, else by name; an unknown one is created as an external organisation."""
    nested = entry.get("Organisation")
    org: dict[str, Any] = nested if isinstance(nested, dict) else entry
    uuid = str(org.get("uuid") or "").lower()
    row = ctx.store.first("organisations", uuid=uuid) if uuid else None
    if row is None and org.get("name"):
        row = ctx.store.find_ci("organisations", "name", str(org["name"]))
    if row is None:
        now = now_text()
        row = ctx.store.insert("organisations", {"name": org.get("name") or uuid, "uuid": uuid or new_uuid(),
                                                 "local": 0, "date_created": now, "date_modified": now,
                                                 "created_by": ctx.user["id"] if ctx.user else 0})
    return row


def set_members(ctx: Ctx, sg: Row, data: dict[str, Any]) -> None:
    for entry in data.get("SharingGroupOrg") or []:
        org = capture_org(ctx, entry)
        extend = int(bool(entry.get("extend")))
        existing = ctx.store.first("sharing_group_orgs", sharing_group_id=sg["id"], org_id=org["id"])
        if existing is None:
            ctx.store.insert("sharing_group_orgs", {"sharing_group_id": sg["id"], "org_id": org["id"], "extend": extend})
        else:
            ctx.store.update("sharing_group_orgs", existing["id"], {"extend": extend})


def set_servers(ctx: Ctx, sg: Row, data: dict[str, Any]) -> None:
    """Servers by url; MISP.baseurl means this instance (server 0); an unknown url is dropped silently."""
    from reconciler.sandbox.resources.settings import current

    baseurl = str(current(ctx.store, "MISP.baseurl") or ctx.app_state.base_url).rstrip("/")
    for entry in data.get("SharingGroupServer") or []:
        server = entry.get("Server") if isinstance(entry.get("Server"), dict) else entry
        url = str(server.get("url", "")).rstrip("/")
        known = next((s for s in ctx.store.all("servers") if str(s["url"]).rstrip("/") == url), None)
        server_id = 0 if url == baseurl else known["id"] if known else None
        if server_id is None:
            continue
        all_orgs = int(bool(server.get("all_orgs", entry.get("all_orgs"))))
        existing = ctx.store.first("sharing_group_servers", sharing_group_id=sg["id"], server_id=server_id)
        if existing is None:
            ctx.store.insert("sharing_group_servers", {"sharing_group_id": sg["id"], "server_id": server_id,
                                                       "all_orgs": all_orgs})
        else:
            ctx.store.update("sharing_group_servers", existing["id"], {"all_orgs": all_orgs})


ADD_DESCRIPTION = {
    "name": "/sharing_groups/add API description",
    "description": "POST a Sharing Group object in JSON format to this API to add a Sharing Group. The API will also "
                   "try to capture attached organisations and servers if applicable to the current user.",
    "mandatory_fields": ["name", "releasability"],
    "optional_fields": {"0": "description", "1": "uuid", "2": "organisation_uuid", "3": "active", "4": "created",
                        "5": "modified", "6": "roaming", "Server": ["url", "name", "all_orgs"],
                        "Organisation": ["uuid", "name", "extend"]},
    "url": "/sharing_groups/add"}
EDIT_DESCRIPTION = {
    "name": "/sharing_groups/edit API description",
    "description": "POST a Sharing Group object in JSON format to this API to edit a Sharing Group. The API will also "
                   "try to capture attached organisations and servers if applicable to the current user.",
    "mandatory_fields": [],
    "optional_fields": {"0": "name", "1": "releasability", "2": "description", "3": "uuid", "4": "organisation_uuid",
                        "5": "active", "6": "created", "7": "modified", "8": "roaming",
                        "SharingGroupServer": ["url", "name", "all_orgs"], "SharingGroupOrg": ["uuid", "name", "extend"]},
    "url": "/sharing_groups/edit"}


def cannot_save(ctx: Ctx) -> Exception:
    return validation_error("Could not add SharingGroup", "/sharing_groups/add", "Could not save sharing group.")


def lists_own_org(ctx: Ctx, data: dict[str, Any]) -> bool:
    """A caller without perm_sync must name its own org as a nested member with extend (reference §6.2 step 2;
    auth--org-admin-refusals step 23: an org admin's add without members is 403)."""
    assert ctx.user is not None
    own = ctx.store.get("organisations", ctx.user["org_id"])
    for entry in data.get("SharingGroupOrg") or []:
        org = entry.get("Organisation") if isinstance(entry, dict) else None
        if not isinstance(org, dict) or own is None:
            continue
        same = str(org.get("uuid") or "").lower() == own["uuid"] or str(org.get("name") or "") == own["name"]
        if same and (entry.get("extend") or ctx.perm("perm_sync")):
            return True
    return False


@route("/sharing_groups/add", methods=("POST",), access="user", wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method == "GET":  # a GET describes the action (sharing_groups--errors step 16)
        return misp_json(ADD_DESCRIPTION)
    if ctx.method != "POST":
        raise misp_error(405, "Method Not Allowed", ctx.url)
    if not (ctx.is_site_admin or ctx.perm("perm_sharing_group")):
        raise cannot_save(ctx)
    data = ctx.data("SharingGroup")
    for key in ("SharingGroupOrg", "SharingGroupServer"):
        if key in (ctx.json() or {}):
            data[key] = ctx.json()[key]
    if not ctx.is_site_admin and not lists_own_org(ctx, data):
        raise cannot_save(ctx)
    uuid = str(data.get("uuid") or "").lower()
    if uuid and not UUID_RE.match(uuid):  # sharing_groups--errors step 4: "nope" is a failed save
        raise cannot_save(ctx)
    existing = ctx.store.first("sharing_groups", uuid=uuid) if uuid else None
    if existing is not None:  # an existing uuid turns the add into an edit (reference §6.2)
        return apply_edit(ctx, existing, data)
    name = str(data.get("name") or "").strip()
    if not name:
        raise cannot_save(ctx)
    if any(s["name"].lower() == name.lower() for s in ctx.store.all("sharing_groups")):
        name = f"{name}_{random.randint(0, 9999)}"  # MISP renames a clashing name silently (reference §6)
    assert ctx.user is not None
    owner = ctx.store.get("organisations", ctx.user["org_id"])
    now = now_text()
    sg = ctx.store.insert("sharing_groups", {
        "name": name, "releasability": data.get("releasability") or "", "description": data.get("description") or "",
        "uuid": uuid or new_uuid(), "organisation_uuid": owner["uuid"] if owner else "", "org_id": ctx.user["org_id"],
        "sync_user_id": ctx.user["id"], "active": int(data.get("active", True) not in (False, 0, "0")),
        "created": now, "modified": now, "local": 0, "roaming": int(bool(data.get("roaming")))})
    set_members(ctx, sg, data)
    if not sg["roaming"] and not data.get("SharingGroupServer"):
        ctx.store.insert("sharing_group_servers", {"sharing_group_id": sg["id"], "server_id": 0, "all_orgs": 0})
    set_servers(ctx, sg, data)
    ctx.log("SharingGroup", sg["id"], "add", f"SharingGroup ({sg['id']}): {sg['name']}")
    return misp_json(answer(ctx, sg))


def apply_edit(ctx: Ctx, sg: Row, data: dict[str, Any]) -> Response:
    if "name" in data and not str(data["name"] or "").strip():
        # The capture's save fails validation and MISP still answers 200 with the group unchanged
        # (sharing_groups--errors step 18).
        return misp_json(answer(ctx, sg))
    values: dict[str, Any] = {k: data[k] for k in ("name", "releasability", "description") if k in data}
    if "roaming" in data:
        values["roaming"] = int(bool(data["roaming"]))  # `active` cannot change through the API (reference §6.3)
    updated = ctx.store.update("sharing_groups", sg["id"], {**values, "modified": now_text()})
    set_members(ctx, updated, data)
    set_servers(ctx, updated, data)
    ctx.log("SharingGroup", sg["id"], "edit", f"SharingGroup ({sg['id']}): {updated['name']}")
    return misp_json(answer(ctx, updated))


@route("/sharing_groups/edit", methods=("POST",), access="user", wrong_method=None)
def edit(ctx: Ctx) -> Response:
    sg = find_sg(ctx, ctx.args[0]) if ctx.args else None
    if sg is None:
        raise ctx.not_found("Invalid sharing group.")
    if ctx.method != "POST":
        return misp_json(EDIT_DESCRIPTION)  # GET and PUT describe (sharing_groups--errors step 17)
    if not may_extend(ctx, sg):
        raise misp_error(405, "Action not allowed.", ctx.url)
    if not (ctx.is_site_admin or (ctx.perm("perm_sync") and not sg["local"])):
        # MISP's capture applies an edit only for these callers; its owner-org check reads a missing key, so an
        # owner gets 200 with the group unchanged (reference §6.3).
        return misp_json(answer(ctx, sg))
    data = ctx.data("SharingGroup")
    return apply_edit(ctx, sg, data)


def may_extend(ctx: Ctx, sg: Row) -> bool:
    """Extend rights (reference §6.1): site admin; the owner org or an extending member with perm_sharing_group;
    the sync user who captured the group."""
    if ctx.is_site_admin:
        return True
    assert ctx.user is not None
    if ctx.user["id"] == sg["sync_user_id"] and ctx.perm("perm_sync"):
        return True
    if not ctx.perm("perm_sharing_group"):
        return False
    member = ctx.store.first("sharing_group_orgs", sharing_group_id=sg["id"], org_id=ctx.user["org_id"])
    return sg["org_id"] == ctx.user["org_id"] or bool(member and member["extend"])


@route("/sharing_groups/delete", methods=("POST", "DELETE"), access="user", wrong_method=None)
def delete(ctx: Ctx) -> Response:
    if ctx.method not in ("POST", "DELETE"):  # CakePHP's allowMethod (sharing_groups--errors step 15)
        raise MispAbort(misp_json(error_body("Method Not Allowed", ctx.url), 405, headers={"allow": "POST, DELETE"}))
    sg = find_sg(ctx, ctx.args[0]) if ctx.args else None
    if sg is None or not (ctx.is_site_admin or (ctx.user and sg["org_id"] == ctx.user["org_id"])):
        raise misp_error(405, "Action not allowed.", ctx.url)
    ctx.store.delete("sharing_group_orgs", sharing_group_id=sg["id"])
    ctx.store.delete("sharing_group_servers", sharing_group_id=sg["id"])
    ctx.store.delete("sharing_groups", id=sg["id"])
    ctx.log("SharingGroup", sg["id"], "delete", f"SharingGroup ({sg['id']}): {sg['name']}")
    return misp_json({"saved": True, "success": True, "name": "SharingGroup deleted", "message": "SharingGroup deleted",
                      "url": f"/sharing_groups/delete/{ctx.args[0]}", "id": str(sg["id"])})


def member_request(ctx: Ctx, body_keys: tuple[str, ...], find: Callable[[str], Row | None],
                   invalid: str) -> tuple[Row, Row, dict[str, Any]]:
    """The group and the member (organisation or server) an addOrg/removeOrg/addServer/removeServer call names,
    in the URL (/sg/member[/flag]) or in the body (the first of `body_keys` given)."""
    body = ctx.json() if ctx.body_bytes.strip() else {}
    body = body if isinstance(body, dict) else {}
    sg_ident = ctx.args[0] if ctx.args else str(body.get("sg_id") or body.get("sg_uuid") or body.get("id") or "")
    sg = find_sg(ctx, sg_ident) if sg_ident else None
    if sg is None or not may_extend(ctx, sg):
        raise misp_error(405, "Invalid sharing group or no editing rights.", ctx.url)
    ident = ctx.args[1] if len(ctx.args) > 1 else str(next((body[k] for k in body_keys if body.get(k)), ""))
    member = find(ident) if ident else None
    if member is None:
        raise misp_error(405, invalid, ctx.url)
    return sg, member, body


def member_target(ctx: Ctx) -> tuple[Row, Row, dict[str, Any]]:
    return member_request(ctx, ("org_id", "org_uuid", "org_name"), lambda ident: find_org(ctx.store, ident),
                          "Invalid organisation.")


def member_changed(message: str, url: str) -> Response:
    return misp_json({"saved": True, "success": True, "name": message, "message": message, "url": url})


@route("/sharing_groups/addOrg", methods=("POST",), access="user")
def add_org(ctx: Ctx) -> Response:
    sg, org, body = member_target(ctx)
    if ctx.store.first("sharing_group_orgs", sharing_group_id=sg["id"], org_id=org["id"]) is not None:
        raise validation_error("Could not add Organisation to SharingGroup", "/sharing_groups/addOrg",
                               "Organisation is already in the sharing group.")
    extend = ctx.args[2] if len(ctx.args) > 2 else body.get("extend", False)
    ctx.store.insert("sharing_group_orgs", {"sharing_group_id": sg["id"], "org_id": org["id"],
                                            "extend": int(extend not in (False, 0, "0", "", None, "false"))})
    ctx.log("SharingGroup", sg["id"], "edit", f"SharingGroup ({sg['id']}): {sg['name']} org {org['name']} added")
    return member_changed("Organisation added to the sharing group.", "/sharing_groups/addOrg")


@route("/sharing_groups/removeOrg", methods=("POST",), access="user")
def remove_org(ctx: Ctx) -> Response:
    sg, org, _ = member_target(ctx)
    if not ctx.store.delete("sharing_group_orgs", sharing_group_id=sg["id"], org_id=org["id"]):
        raise validation_error("Could not remove Organisation from SharingGroup", "/sharing_groups/removeOrg",
                               "Organisation is not in the sharing group.")
    ctx.log("SharingGroup", sg["id"], "edit", f"SharingGroup ({sg['id']}): {sg['name']} org {org['name']} removed")
    return member_changed("Organisation removed from the sharing group.", "/sharing_groups/removeOrg")


def server_target(ctx: Ctx) -> tuple[Row, Row, dict[str, Any]]:
    """The group and a remote server by id, name or url. Server 0 (this instance) cannot be addressed here: only
    the add/edit body manages its row (reference §6.3; sharing_groups--errors step 14)."""
    return member_request(ctx, ("server_id", "server_url", "server_name"), lambda ident: find_server(ctx, ident),
                          "Invalid Server.")


def find_server(ctx: Ctx, ident: str) -> Row | None:
    if ident.isdigit():
        return ctx.store.get("servers", int(ident)) if int(ident) else None
    wanted = ident.lower().rstrip("/")
    return next((s for s in ctx.store.all("servers")
                 if wanted and wanted in (str(s["name"]).lower(), str(s["url"]).lower().rstrip("/"))), None)


@route("/sharing_groups/addServer", methods=("POST",), access="user")
def add_server(ctx: Ctx) -> Response:
    sg, server, body = server_target(ctx)
    if ctx.store.first("sharing_group_servers", sharing_group_id=sg["id"], server_id=server["id"]) is not None:
        raise validation_error("Could not add Server to SharingGroup", "/sharing_groups/addServer",
                               "Server is already in the sharing group.")
    wanted = ctx.args[2] if len(ctx.args) > 2 else body.get("all_orgs", body.get("all", False))
    ctx.store.insert("sharing_group_servers", {"sharing_group_id": sg["id"], "server_id": server["id"],
                                               "all_orgs": int(wanted not in (False, 0, "0", "", None, "false"))})
    ctx.log("SharingGroup", sg["id"], "edit", f"SharingGroup ({sg['id']}): {sg['name']} server {server['name']} added")
    return member_changed("Server added to the sharing group.", "/sharing_groups/addServer")


@route("/sharing_groups/removeServer", methods=("POST",), access="user")
def remove_server(ctx: Ctx) -> Response:
    sg, server, _ = server_target(ctx)
    # MISP 2.5.1 deletes the sharing_group_servers row whose *primary key* is the server's id, so the group's
    # real row stays and the answer is 403 (sharing_groups--members steps 12-13). The twin keeps that answer but
    # never deletes another group's row: only when that row happens to be this (group, server) pair does it go.
    row = ctx.store.get("sharing_group_servers", server["id"])
    if row is None or (row["sharing_group_id"], row["server_id"]) != (sg["id"], server["id"]):
        raise validation_error("Could not remove Server from SharingGroup", "/sharing_groups/removeServer",
                               "Server could not be removed from the sharing group.")
    if not ctx.store.delete("sharing_group_servers", id=row["id"]):
        raise validation_error("Could not remove Server from SharingGroup", "/sharing_groups/removeServer",
                               "Server could not be removed from the sharing group.")
    ctx.log("SharingGroup", sg["id"], "edit", f"SharingGroup ({sg['id']}): {sg['name']} server {server['name']} removed")
    return member_changed("Server removed from the sharing group.", "/sharing_groups/removeServer")


def alias_camel_case() -> None:
    """CakePHP inflects the controller part of a URL, so /sharingGroups/add reaches the same action as
    /sharing_groups/add; PyMISP uses the camelCase form for every sharing group call."""
    for key, registered in list(ROUTES.items()):
        if key.startswith("/sharing_groups/"):
            ROUTES.setdefault("/sharingGroups/" + key.removeprefix("/sharing_groups/"), registered)


alias_camel_case()

"""Tags (transcripts tags--*): add is idempotent by exact name; edit resets the fields it is not sent."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_error, misp_json, route
from reconciler.sandbox.store import Row, Store

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

COLOUR_RE = re.compile(r"^#[0-9a-f]{6}$", re.IGNORECASE)
GALAXY_RE = re.compile(r'^misp-galaxy:[^=]+="[^"]+"$')
# Fields an edit resets to these defaults when the body leaves them out (reference §7, tags--crud).
RESET_ON_EDIT = {"org_id": 0, "user_id": 0, "hide_tag": 0, "exportable": 1, "local_only": 0}
# A fresh MISP 2.5.1 already holds the tlp taxonomy's tags, hidden, as ids 2-9 (transcripts
# taxonomies--index-view step 3, auth--org-admin-refusals step 24, tags--add-full-index-search step 9).
FRESH_TAGS = ((2, "tlp:red", "#FF2B2B"), (3, "tlp:amber", "#FFC000"), (4, "tlp:amber+strict", "#FFC000"),
              (5, "tlp:green", "#33FF00"), (6, "tlp:white", "#ffffff"), (7, "tlp:clear", "#ffffff"),
              (8, "tlp:ex:chr", "#d208f4"), (9, "tlp:unclear", "#7e7eae"))
ADD_DESCRIPTION = {"name": "/tags/add API description",
                   "description": "POST a Tag object in JSON format to this API to create a new tag.",
                   "mandatory_fields": ["name"],
                   "optional_fields": ["colour", "exportable", "hide_tag", "org_id", "user_id"], "url": "/tags/add"}
EDIT_DESCRIPTION = {"name": "/tags/edit API description",
                    "description": "POST or PUT a Tag object in JSON format to this API to create a edit an existing tag.",
                    "optional_fields": ["name", "colour", "exportable", "hide_tag", "org_id", "user_id"],
                    "url": "/tags/edit/[tag_id]"}


def seed(state: SandboxState) -> None:
    state.store.insert_many("tags", [
        {"id": tag_id, "name": name, "colour": colour, "exportable": 1, "org_id": 0, "user_id": 0, "hide_tag": 1,
         "numerical_value": None, "is_galaxy": 0, "is_custom_galaxy": 0, "local_only": 0}
        for tag_id, name, colour in FRESH_TAGS])


def tag_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "colour": row["colour"],
            "exportable": bool(row["exportable"]), "org_id": str(row["org_id"] or 0),
            "user_id": str(row["user_id"] or 0), "hide_tag": bool(row["hide_tag"]),
            "numerical_value": None if row["numerical_value"] is None else str(row["numerical_value"]),
            "is_galaxy": bool(row["is_galaxy"]), "is_custom_galaxy": bool(row["is_custom_galaxy"]),
            "local_only": bool(row["local_only"])}


def default_colour(name: str) -> str:
    """`#` and the first six hex digits of md5(name), as MISP colours a tag added without one."""
    return "#" + hashlib.md5(name.encode()).hexdigest()[:6]


def flag(value: Any) -> int:
    return int(value not in (False, 0, "0", "", None, "false"))


def tag_values(ctx: Ctx, data: dict[str, Any], failure_url: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = str(data["name"])[:255]
        values["is_galaxy"] = int(values["name"].startswith("misp-galaxy:"))
        values["is_custom_galaxy"] = int(bool(GALAXY_RE.match(values["name"])) and
                                         values["name"].startswith("misp-galaxy:"))
    if "colour" in data:
        if data["colour"] in ("", None):
            raise misp_error(405, "Could not add the Tag. [colour]: Colour cannot be empty.", failure_url)
        if not COLOUR_RE.match(str(data["colour"])):
            raise misp_error(405, "Could not add the Tag. [colour]: Colour has to be in the RGB format "
                                  "(#FFFFFF)", failure_url)
        values["colour"] = data["colour"]
    for name in ("exportable", "hide_tag", "local_only"):
        if name in data:
            values[name] = flag(data[name])
    for name in ("org_id", "user_id"):
        if name in data:
            values[name] = int(data[name] or 0)
    if "numerical_value" in data:
        values["numerical_value"] = None if data["numerical_value"] in (None, "") else int(data["numerical_value"])
    return values


def find_by_name(store: Store, name: str) -> Row | None:
    return store.first("tags", name=name)


@route("/tags/index", access="user")
def index(ctx: Ctx) -> Response:
    rows = ctx.store.all("tags")
    if "searchall" in ctx.named:
        term = unquote(ctx.named["searchall"]).lower()
        rows = [r for r in rows if term in r["name"].lower()]
    if "name" in ctx.named:
        wanted = unquote(ctx.named["name"]).lower()
        rows = [r for r in rows if r["name"].lower() == wanted]
    stats = ctx.named.get("exclude_statistics") != "1"
    from reconciler.sandbox.resources.taxonomies import embedded_taxonomy, enabled_expansions

    expansions = enabled_expansions(ctx.store)
    body = []
    for row in sorted(rows, key=lambda r: r["name"]):
        tag = {**tag_json(row), "favourite": False}
        if (taxonomy := embedded_taxonomy(expansions, row["name"])) is not None:
            tag["Taxonomy"] = taxonomy  # tags of enabled taxonomies (taxonomies--addtag-selection step 2)
        if stats:
            tag.update({"count": 0, "attribute_count": 0})
        body.append(tag)
    return misp_json({"Tag": body})


@route("/tags/view", access="user")
def view(ctx: Ctx) -> Response:
    row = ctx.store.get("tags", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise misp_error(405, "Invalid Tag", ctx.url)
    return misp_json({**tag_json(row), "count": 0, "attribute_count": 0})


@route("/tags/add", methods=("POST",), access="user", wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":  # GET describes the action (tags--errors step 14)
        return misp_json(ADD_DESCRIPTION)
    if not (ctx.perm("perm_tag_editor") or ctx.is_site_admin):
        raise ctx.deny()
    data = ctx.data("Tag")
    existing = find_by_name(ctx.store, str(data.get("name", "")))
    if existing is not None:  # an exact-name add returns the existing tag unchanged (reference §7)
        return misp_json({"Tag": tag_json(existing)})
    if "name" not in data:  # PHP reads the missing key and fails (tags--errors step 5)
        raise misp_error(500, "An Internal Error Has Occurred.", ctx.url)
    if not data["name"]:
        raise misp_error(405, "Could not add the Tag. [name]: This field is required.", ctx.url)
    values = {**RESET_ON_EDIT, "colour": default_colour(str(data["name"])), "numerical_value": None,
              **tag_values(ctx, data, ctx.url)}
    row = ctx.store.insert("tags", values)
    ctx.log("Tag", row["id"], "add", f"Tag ({row['id']}): {row['name']}")
    return misp_json({"Tag": tag_json(row)})


@route("/tags/edit", methods=("POST", "PUT"), wrong_method=None)
def edit(ctx: Ctx) -> Response:
    row = ctx.store.get("tags", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid tag")
    if ctx.method not in ("POST", "PUT"):  # GET describes the action (tags--errors step 15)
        return misp_json(EDIT_DESCRIPTION)
    data = ctx.data("Tag")
    values = {**RESET_ON_EDIT, **tag_values(ctx, data, ctx.url)}  # the quirk: omitted fields reset
    if "name" in values:
        clash = find_by_name(ctx.store, values["name"])
        if clash is not None and clash["id"] != row["id"]:  # tags--errors step 9
            raise misp_error(405, "Could not add the Tag. [name]: A similar name already exists.", ctx.url)
    updated = ctx.store.update("tags", row["id"], values)
    ctx.log("Tag", row["id"], "edit", f"Tag ({row['id']}): {updated['name']}")
    return misp_json({"Tag": tag_json(updated)})


@route("/tags/delete", methods=("POST",), wrong_method="Method Not Allowed")  # tags--errors step 13
def delete(ctx: Ctx) -> Response:
    row = ctx.store.get("tags", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid tag")
    ctx.store.delete("tags", id=row["id"])
    ctx.log("Tag", row["id"], "delete", f"Tag ({row['id']}): {row['name']}")
    base = ctx.app_state.base_url
    return misp_json({"name": "Tag deleted.", "message": "Tag deleted.", "url": f"{base}/tags/delete/{row['id']}"})


@route("/tags/search", methods=("GET", "POST"), access="user")
def search(ctx: Ctx) -> Response:
    if ctx.method == "POST":
        body = ctx.json() or {}
        terms = body.get("tag", []) if isinstance(body, dict) else []
        terms = [terms] if isinstance(terms, str) else list(terms)
    else:
        terms = [unquote(ctx.args[0])] if ctx.args else []
    found: list[Row] = []
    for term in terms:
        if ctx.method == "GET" and term.isdigit():
            row = ctx.store.get("tags", term)
            found += [row] if row else []
        elif "%" in term:
            pattern = re.compile("^" + ".*".join(re.escape(p) for p in term.split("%")) + "$", re.IGNORECASE)
            found += [r for r in ctx.store.all("tags") if pattern.match(r["name"])]
        elif ctx.method == "POST":
            found += [r for r in ctx.store.all("tags") if r["name"].lower() == term.lower()]
    from reconciler.sandbox.resources.taxonomies import taxonomy_of_tag

    unique = {r["id"]: r for r in found}  # in id order, each once (tags--add-full-index-search step 9)
    return misp_json([{"Tag": tag_json(unique[i]), **(taxonomy_of_tag(ctx.store, unique[i]["name"]) or {})}
                      for i in sorted(unique)])

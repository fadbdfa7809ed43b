"""Taxonomies (transcripts taxonomies--*, reference identity §8), from MISP's library as pytaxonomies ships it.

Rows are created on the first taxonomy request, all disabled, in namespace order: loading the library costs a
fifth of a second, which sandboxes that never touch taxonomies do not pay.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_error, misp_json, route, validation_error
from reconciler.sandbox.store import Row, Store

LOADED = "taxonomies.loaded"


@cache
def misp_ids() -> dict[str, int]:
    """The taxonomies MISP 2.5.1 ships and the ids it gives them (package data, see data/NOTICE.md)."""
    text = resources.files("reconciler.sandbox").joinpath("data/taxonomy-ids.json").read_text("utf-8")
    ids: dict[str, int] = json.loads(text)
    return ids


@cache
def library() -> dict[str, Any]:
    """The content of those taxonomies, from pytaxonomies (which may know newer ones: left out)."""
    from pytaxonomies.api import Taxonomies

    available = {t.name: t for t in Taxonomies().values()}
    return {name: available[name] for name in misp_ids() if name in available}


@cache
def entries_of(namespace: str) -> list[dict[str, Any]]:
    """Every tag of a taxonomy: `ns:predicate="value"` per entry, `ns:predicate` for a bare predicate.

    `expanded` of an entry is "<predicate expanded>: <entry expanded>" (taxonomies--addtag-selection step 9);
    the view shows `colour` only for bare predicates, `description`, `exclusive_predicate` and
    `numerical_value` only when the library has them (taxonomies--index-view step 3).
    """
    taxonomy = library()[namespace]
    result = []
    for predicate in taxonomy.predicates.values():
        if predicate.entries:
            for entry in predicate.entries.values():
                shown: dict[str, Any] = {"tag": f'{namespace}:{predicate.predicate}="{entry.value}"',
                                         "expanded": f"{predicate.expanded or predicate.predicate}: "
                                                     f"{entry.expanded or entry.value}"}
                if predicate.exclusive:
                    shown["exclusive_predicate"] = True
                result.append(optional(shown, entry.description, entry.numerical_value,
                                       colour=entry.colour or predicate.colour))
        else:
            shown = {"tag": f"{namespace}:{predicate.predicate}", "expanded": predicate.expanded or predicate.predicate}
            if predicate.colour:
                shown["colour"] = predicate.colour
            result.append(optional(shown, predicate.description, predicate.numerical_value,
                                   colour=predicate.colour))
    return result


def optional(shown: dict[str, Any], description: str | None, numerical: int | None, *, colour: str | None,
             ) -> dict[str, Any]:
    """Adds the fields MISP's view shows only when set, and what addTag writes (`tag_colour`, `numerical`)."""
    if description:
        shown["description"] = description
    if numerical is not None:
        shown["numerical_value"] = str(numerical)
    return {**shown, "tag_colour": colour, "numerical": numerical}


VIEW_KEYS = ("tag", "expanded", "colour", "description", "exclusive_predicate", "numerical_value")


def enabled_expansions(store: Store) -> dict[str, tuple[Row, str]]:
    """Tag name → (taxonomy row, expanded) for enabled taxonomies: the tag index embeds those
    (taxonomies--addtag-selection step 2; a disabled taxonomy's tlp tags get nothing, auth--org-admin-refusals 24)."""
    found: dict[str, tuple[Row, str]] = {}
    for row in store.find("taxonomies", enabled=1):
        for entry in entries_of(row["namespace"]):
            found[entry["tag"]] = (row, entry["expanded"])
    return found


def embedded_taxonomy(found: dict[str, tuple[Row, str]], name: str) -> dict[str, Any] | None:
    if name not in found:
        return None
    row, expanded = found[name]
    return {**taxonomy_json(row), "expanded": expanded}


def ensure_loaded(store: Store) -> None:
    if store.first("sandbox_settings", name=LOADED) is not None:
        return
    store.insert_many("taxonomies", [{
        "id": misp_ids()[t.name], "namespace": t.name, "description": t.description, "version": str(t.version),
        "enabled": 0, "exclusive": int(bool(t.exclusive)), "required": 0, "highlighted": 0}
        for t in library().values()])
    store.insert("sandbox_settings", {"name": LOADED, "value": "true"})


def taxonomy_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "namespace": row["namespace"], "description": row["description"],
            "version": str(row["version"]), "enabled": bool(row["enabled"]), "exclusive": bool(row["exclusive"]),
            "required": bool(row["required"]), "highlighted": bool(row["highlighted"])}


def find(ctx: Ctx, ident: str) -> Row | None:
    """By numeric id only: MISP 2.5.1 answers 404 to a namespace (transcript taxonomies--index-view)."""
    ensure_loaded(ctx.store)
    return ctx.store.get("taxonomies", int(ident)) if ident.isdigit() else None


def colour_of(entry: dict[str, Any], namespace: str) -> str:
    if entry.get("tag_colour"):
        return str(entry["tag_colour"]).lower()
    return "#" + hashlib.md5(namespace.encode()).hexdigest()[:6]


@route("/taxonomies/index", access="user")
def index(ctx: Ctx) -> Response:
    ensure_loaded(ctx.store)
    rows = ctx.store.all("taxonomies")
    if "value" in ctx.named:
        term = unquote(ctx.named["value"]).lower()
        rows = [r for r in rows if matches(r, term)]
    if "enabled" in ctx.named:
        wanted = ctx.named["enabled"] == "1"
        rows = [r for r in rows if bool(r["enabled"]) == wanted]
    tags = {t["name"]: t for t in ctx.store.all("tags")}
    body = []
    for row in rows:
        names = [e["tag"] for e in entries_of(row["namespace"])]
        current = sum(1 for n in names if n in tags and not tags[n]["hide_tag"])
        body.append({"Taxonomy": taxonomy_json(row), "total_count": len(names), "current_count": current})
    return misp_json(body)


def matches(row: Row, term: str) -> bool:
    """`/value:` looks in the namespace, the description and every tag's text (taxonomies--index-view step 2)."""
    texts = [row["namespace"], row["description"] or ""]
    texts += [t for e in entries_of(row["namespace"]) for t in (e["tag"], e["expanded"], e.get("description", ""))]
    return any(term in text.lower() for text in texts)


@route("/taxonomies/view", access="user")
def view(ctx: Ctx) -> Response:
    row = find(ctx, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Taxonomy not found.")
    from reconciler.sandbox.resources.tags import tag_json

    tags = {t["name"]: t for t in ctx.store.all("tags")}
    entries = []
    for entry in entries_of(row["namespace"]):
        existing = tags.get(entry["tag"])
        entries.append({**{k: entry[k] for k in VIEW_KEYS if k in entry},
                        "existing_tag": {"Tag": tag_json(existing)} if existing else False})
    return misp_json({"Taxonomy": taxonomy_json(row), "entries": entries})


def toggle(ctx: Ctx, enabled: bool) -> Response:
    row = find(ctx, ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise validation_error("Could not update Taxonomy", ctx.url, "Invalid taxonomy.")
    if not enabled:  # disabling hides every existing tag of the taxonomy first (reference §8)
        for entry in entries_of(row["namespace"]):
            tag = ctx.store.first("tags", name=entry["tag"])
            if tag is not None:
                ctx.store.update("tags", tag["id"], {"hide_tag": 1})
    ctx.store.update("taxonomies", row["id"], {"enabled": int(enabled)})
    word = "enabled" if enabled else "disabled"
    ctx.log("Taxonomy", row["id"], "enable" if enabled else "disable", f"Taxonomy ({row['id']}): {row['namespace']}")
    return misp_json({"saved": True, "success": True, "name": f"Taxonomy {word}", "message": f"Taxonomy {word}",
                      "url": ctx.url, "id": str(row["id"])})


@route("/taxonomies/enable", methods=("POST",))
def enable(ctx: Ctx) -> Response:
    return toggle(ctx, True)


@route("/taxonomies/disable", methods=("POST",))
def disable(ctx: Ctx) -> Response:
    return toggle(ctx, False)


def selection(ctx: Ctx) -> tuple[Row, list[str] | None]:
    """The taxonomy and the tag names a body selects: `nameList` must be a JSON *string* (a list → 500)."""
    body = ctx.json() or {}
    data = body.get("Taxonomy") or body.get("Tag") or {} if isinstance(body, dict) else {}
    ident = ctx.args[0] if ctx.args else str(data.get("taxonomy_id", ""))
    row = find(ctx, ident) if ident else None
    if row is None:
        raise validation_error("The tag(s) could not be saved.", ctx.url,
                               "The tag(s) could not be saved. Invalid Taxonomy")
    if "nameList" in data:
        if not isinstance(data["nameList"], str):
            raise misp_error(500, "An Internal Error Has Occurred.", ctx.url)
        return row, list(json.loads(data["nameList"]))
    if "name" in data:
        return row, [str(data["name"])]
    return row, None


@route("/taxonomies/addTag", methods=("POST",))
def add_tag(ctx: Ctx) -> Response:
    row, names = selection(ctx)
    for entry in entries_of(row["namespace"]):
        if names is not None and entry["tag"] not in names:
            continue
        values = {"colour": colour_of(entry, row["namespace"]), "hide_tag": 0,
                  "numerical_value": entry["numerical"]}
        tag = ctx.store.first("tags", name=entry["tag"])
        if tag is None:
            tag = ctx.store.insert("tags", {"name": entry["tag"], "exportable": 1, "org_id": 0, "user_id": 0,
                                            "local_only": 0, "is_galaxy": 0, "is_custom_galaxy": 0, **values})
            ctx.log("Tag", tag["id"], "add", f"Tag ({tag['id']}): {tag['name']}")
        else:
            ctx.store.update("tags", tag["id"], values)
    body: dict[str, Any] = {"saved": True, "success": True, "name": "The tag(s) has been saved.",
                            "message": "The tag(s) has been saved.", "url": ctx.url}
    if ctx.args:
        body["id"] = ctx.args[0]
    return misp_json(body)


@route("/taxonomies/disableTag", methods=("POST",))
def disable_tag(ctx: Ctx) -> Response:
    row, names = selection(ctx)
    for entry in entries_of(row["namespace"]):
        if names is None or entry["tag"] in names:
            tag = ctx.store.first("tags", name=entry["tag"])
            if tag is not None:
                ctx.store.update("tags", tag["id"], {"hide_tag": 1})
    # A browser-style redirect to the site root, empty, yet labelled JSON (taxonomies--addtag-selection step 7).
    return Response("", status_code=302, headers={"location": f"{ctx.app_state.base_url}/",
                                                  "content-type": "application/json; charset=UTF-8"})


@route("/taxonomies/update", methods=("POST",))
def update(ctx: Ctx) -> Response:
    """The library is the one pytaxonomies ships, loaded once: an update finds nothing newer (reference §8)."""
    ensure_loaded(ctx.store)
    message = "All taxonomy libraries are up to date already."
    return misp_json({"saved": True, "success": True, "name": message, "message": message, "url": "/taxonomies/update"})


@route("/taxonomies/toggleRequired", methods=("POST",))
def toggle_required(ctx: Ctx) -> Response:
    row = find(ctx, ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    body = ctx.json() or {}
    data = body.get("Taxonomy") if isinstance(body, dict) else None
    if row is None or not isinstance(data, dict):  # the wrapper is mandatory (reference §8)
        raise validation_error("Invalid Taxonomy", ctx.url, "Invalid Taxonomy")
    ctx.store.update("taxonomies", row["id"], {"required": int(bool(data.get("required")))})
    return misp_json({"saved": True, "success": True, "name": "Taxonomy toggleRequireded",
                      "message": "Taxonomy toggleRequireded", "url": ctx.url, "id": str(row["id"])})


@route("/taxonomies/export", access="user")
def export(ctx: Ctx) -> Response:
    """The machinetag JSON of a taxonomy, by id or namespace (taxonomies--index-view step 6)."""
    ensure_loaded(ctx.store)
    ident = ctx.args[0] if ctx.args else ""
    row = find(ctx, ident) if ident.isdigit() else ctx.store.first("taxonomies", namespace=ident)
    if row is None:
        raise ctx.not_found("Taxonomy not found.")
    data = library()[row["namespace"]].to_dict()
    body: dict[str, Any] = {"namespace": data["namespace"], "description": data["description"],
                            "version": data["version"]}
    if "exclusive" in data:
        body["exclusive"] = data["exclusive"]
    body["predicates"] = [without_uuid(p) for p in data["predicates"]]
    if data.get("values"):
        body["values"] = [{**v, "entry": [without_uuid(e) for e in v["entry"]]} for v in data["values"]]
    return misp_json(body)


def without_uuid(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "uuid"}


@cache
def predicate_ids() -> dict[tuple[str, str], int]:
    """(namespace, predicate) → a stable id: predicates numbered in taxonomy-id order, as MISP's table fills."""
    order = sorted(library().values(), key=lambda t: misp_ids()[t.name])
    pairs = [(t.name, p.predicate) for t in order for p in t.predicates.values()]
    return {pair: number for number, pair in enumerate(pairs, start=1)}


def taxonomy_of_tag(store: Store, name: str) -> dict[str, Any] | None:
    """`Taxonomy` and `TaxonomyPredicate` of a taxonomy tag, enabled or not, as tags/search embeds them
    (tags--add-full-index-search step 9); None for any other tag. Loads the library only for a known namespace."""
    namespace, _, rest = name.partition(":")
    predicate_name = rest.split("=", 1)[0]
    if not rest or namespace not in misp_ids() or namespace not in library():
        return None
    predicate = library()[namespace].predicates.get(predicate_name)
    ensure_loaded(store)
    row = store.first("taxonomies", namespace=namespace)
    if predicate is None or row is None:
        return None
    return {"Taxonomy": taxonomy_json(row), "TaxonomyPredicate": {
        "id": str(predicate_ids()[(namespace, predicate_name)]), "taxonomy_id": str(row["id"]),
        "value": predicate.predicate, "expanded": predicate.expanded, "colour": predicate.colour,
        "description": predicate.description, "exclusive": bool(predicate.exclusive),
        "numerical_value": None if predicate.numerical_value is None else str(predicate.numerical_value)}}

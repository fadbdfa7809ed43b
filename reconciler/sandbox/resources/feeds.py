"""Feeds (transcripts feeds--*, reference sync-ops): a fresh MISP has two default feeds; REST add defaults to
fixed_event true and distribution 0; enable/disable answer without saved/success; nothing is ever fetched."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, deleted, misp_json, route, validation_error
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

BOOLS = ("enabled", "default", "fixed_event", "delta_merge", "publish", "override_ids", "delete_local_file",
         "lookup_visible", "caching_enabled", "force_to_ids")
IDS = ("distribution", "sharing_group_id", "tag_id", "event_id", "orgc_id", "tag_collection_id")
TEXTS = ("name", "provider", "url", "rules", "source_format", "settings", "input_source", "headers")


@cache
def catalogue() -> list[dict[str, Any]]:
    text = resources.files("reconciler.sandbox").joinpath("data/feed-defaults.json").read_text("utf-8")
    return [item["Feed"] for item in json.loads(text)]


def seed(state: SandboxState) -> None:
    """The two feeds a fresh MISP 2.5.1 lists (transcript feeds--crud)."""
    for feed in catalogue()[1:3]:
        state.store.insert("feeds", {**row_values(feed), "enabled": 0, "default": 1, "distribution": 3,
                                     "settings": None, "rules": None})


def feed_json(row: Row) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"])}
    for name in ("name", "provider", "url", "rules", "enabled", "distribution", "sharing_group_id", "tag_id",
                 "default", "source_format", "fixed_event", "delta_merge", "event_id", "publish", "override_ids",
                 "settings", "input_source", "delete_local_file", "lookup_visible", "headers", "caching_enabled",
                 "force_to_ids", "orgc_id", "tag_collection_id"):
        value = row[name]
        body[name] = bool(value) if name in BOOLS else str(value or 0) if name in IDS else value
    return body


def row_values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in BOOLS:
        if name in data:
            values[name] = int(data[name] not in (False, 0, "0", "", None, "false"))
    for name in IDS:
        if name in data:
            values[name] = int(data[name] or 0)
    for name in TEXTS:
        if name in data:
            value = data[name]
            values[name] = json.dumps(value) if isinstance(value, dict | list) else value
    return values


@route("/feeds/index", access="user")
def index(ctx: Ctx) -> Response:
    if not ctx.is_site_admin:  # org admins see an empty list (auth--org-admin-refusals)
        return misp_json([])
    return misp_json([{"Feed": feed_json(r)} for r in ctx.store.all("feeds")])


@route("/feeds/view", access="user")
def view(ctx: Ctx) -> Response:
    row = ctx.store.get("feeds", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None or not ctx.is_site_admin:
        raise ctx.not_found("Invalid Feed.")
    return misp_json({"Feed": {**feed_json(row), "cached_elements": 0, "coverage_by_other_feeds": "0%"}})


@route("/feeds/add", methods=("POST",))
def add(ctx: Ctx) -> Response:
    data = ctx.data("Feed")
    errors = {name: ["This field cannot be left blank."] for name in ("name", "provider", "url") if not data.get(name)}
    if errors:
        raise validation_error("Could not add Feed", ctx.url, errors)
    if ctx.store.first("feeds", url=data["url"]) is not None:
        raise validation_error("Could not add Feed", ctx.url, {"url": ["Feed url must be unique"]})
    values = {"source_format": "freetext", "fixed_event": 1, "distribution": 0, "settings": "[]", "enabled": 0,
              "input_source": "network", **row_values(data)}
    row = ctx.store.insert("feeds", values)
    ctx.log("Feed", row["id"], "add", f"Feed ({row['id']}): {row['name']}")
    return misp_json({"Feed": feed_json(row)})


@route("/feeds/edit", methods=("POST", "PUT"))
def edit(ctx: Ctx) -> Response:
    row = ctx.store.get("feeds", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Feed.")
    values = row_values(ctx.data("Feed"))
    if row["rules"] is None and "rules" not in values:  # an edit fills in empty rules (feeds--crud)
        values["rules"] = json.dumps({"tags": {"OR": [], "NOT": []}, "orgs": {"OR": [], "NOT": []}, "url_params": ""},
                                     separators=(",", ":"))
    updated = ctx.store.update("feeds", row["id"], values)
    ctx.log("Feed", row["id"], "edit", f"Feed ({row['id']}): {updated['name']}")
    return misp_json({"Feed": feed_json(updated)})


def toggle(ctx: Ctx, enabled: bool) -> Response:
    row = ctx.store.get("feeds", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Feed.")
    ctx.store.update("feeds", row["id"], {"enabled": int(enabled)})
    message = "Feed enabled." if enabled else "Feed disabled."
    return misp_json({"name": message, "message": message, "url": ctx.url})


@route("/feeds/enable", methods=("POST",))
def enable(ctx: Ctx) -> Response:
    return toggle(ctx, True)


@route("/feeds/disable", methods=("POST",))
def disable(ctx: Ctx) -> Response:
    return toggle(ctx, False)


@route("/feeds/delete", methods=("POST", "DELETE"))
def delete(ctx: Ctx) -> Response:
    row = ctx.store.get("feeds", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid Feed.")
    ctx.store.delete("feeds", id=row["id"])
    ctx.log("Feed", row["id"], "delete", f"Feed ({row['id']}): {row['name']}")
    return deleted("Feed deleted.", ctx.url, row["id"])


@route("/feeds/loadDefaultFeeds", methods=("POST",))
def load_default_feeds(ctx: Ctx) -> Response:
    """MISP's 84 default feeds, inserted disabled; a URL already present is left alone."""
    for feed in catalogue():
        if ctx.store.first("feeds", url=feed["url"]) is None:
            ctx.store.insert("feeds", {**row_values(feed), "enabled": 0, "default": 1})
    return misp_json({"name": "Default feed metadata loaded.", "message": "Default feed metadata loaded.",
                      "url": ctx.url})

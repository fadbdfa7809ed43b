"""Feeds (transcripts feeds--*, reference sync-ops §2): a fresh MISP has two default feeds; REST add defaults to
freetext, fixed_event true and distribution 0; enable/disable answer without saved/success.

Nothing is ever fetched: previewIndex answers stub data in MISP's shape, fetchFromFeed and cacheFeeds answer as
MISP does when it queues the work (and record it in the log), the network is never touched.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from reconciler.sandbox.http import (
    HTML_TYPE,
    JSON_TYPE,
    Ctx,
    deleted,
    misp_error,
    misp_json,
    route,
    validation_error,
)
from reconciler.sandbox.resources.organisations import org_json
from reconciler.sandbox.resources.tags import default_colour, tag_json
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

BOOLS = ("enabled", "default", "fixed_event", "delta_merge", "publish", "override_ids", "delete_local_file",
         "lookup_visible", "caching_enabled", "force_to_ids")
IDS = ("distribution", "sharing_group_id", "tag_id", "event_id", "orgc_id", "tag_collection_id")
TEXTS = ("name", "provider", "url", "rules", "source_format", "input_source", "headers")
FIELD_ORDER = ("name", "provider", "url", "rules", "enabled", "distribution", "sharing_group_id", "tag_id",
               "default", "source_format", "fixed_event", "delta_merge", "event_id", "publish", "override_ids",
               "settings", "input_source", "delete_local_file", "lookup_visible", "headers", "caching_enabled",
               "force_to_ids", "orgc_id", "tag_collection_id")
EMPTY_RULES = '{"tags":{"OR":[],"NOT":[]},"orgs":{"OR":[],"NOT":[]},"url_params":""}'
NOT_BLANK = ["This field cannot be left blank"]
BAD_PATH = ["Invalid path or file not found. Make sure that the path points to an existing file that is readable "
            "and watch out for typos."]
MISP_ROOT = "/var/www/MISP/"  # the twin's pretend install: local feed paths under it exist (feeds--add-formats 10)
# What loadDefaultFeeds keeps from a catalogue entry (reference §2.6): enabled, caching, distribution and
# input_source in the file are ignored.
CATALOGUE_FIELDS = ("name", "provider", "url", "rules", "source_format", "fixed_event", "delta_merge",
                    "override_ids", "publish", "settings", "default", "lookup_visible", "headers")


@cache
def catalogue() -> list[dict[str, Any]]:
    text = resources.files("reconciler.sandbox").joinpath("data/feed-defaults.json").read_text("utf-8")
    return list(json.loads(text))


def seed(state: SandboxState) -> None:
    """The two feeds a fresh MISP 2.5.1 lists, disabled, distribution 3, no settings (transcript feeds--crud)."""
    for entry in catalogue()[1:3]:
        state.store.insert("feeds", {**row_values(entry["Feed"]), "enabled": 0, "default": 1, "distribution": 3,
                                     "settings": None, "rules": None, "caching_enabled": 0})


def php_json(value: Any) -> str:
    """PHP's json_encode: compact, and '/' escaped as '\\/' (feeds--add-formats steps 3, 8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def feed_json(row: Row) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"])}
    for name in FIELD_ORDER:
        value = row[name]
        body[name] = bool(value) if name in BOOLS else str(value or 0) if name in IDS else value
    return body


def settings_value(value: Any) -> str | None:
    """Settings are stored re-encoded the PHP way, whether sent as an object or as a JSON string; an empty
    object is PHP's empty array, `[]`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    if value in ({}, [], None):
        return "[]"
    return php_json(value)


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
    if "pull_rules" in data:  # an alias of rules (feeds--add-formats step 6)
        value = data["pull_rules"]
        values["rules"] = json.dumps(value) if isinstance(value, dict | list) else value
    if "settings" in data:
        values["settings"] = settings_value(data["settings"])
    if "input_source" in values:  # lower-cased, anything unknown becomes network (feeds--errors step 5)
        source = str(values["input_source"]).lower()
        values["input_source"] = source if source in ("network", "local") else "network"
    if values.get("distribution") is not None and values["distribution"] != 4:
        values["sharing_group_id"] = 0  # only distribution 4 keeps a sharing group (feeds--add-formats step 7)
    return values


def exclude_regex_ok(settings: str | None) -> bool:
    """A non-empty settings.common.excluderegex must be a delimited PHP regex such as /^#/ (feeds--errors 3)."""
    try:
        parsed = json.loads(settings or "[]")
    except ValueError:
        return True
    regex = parsed.get("common", {}).get("excluderegex", "") if isinstance(parsed, dict) else ""
    if not regex:
        return True
    match = re.fullmatch(r"([^\w\s\\])(.*)\1[imsxuADU]*", str(regex), re.DOTALL)
    if match is None:
        return False
    try:
        re.compile(match[2])
    except re.error:
        return False
    return True


def field_errors(values: dict[str, Any]) -> dict[str, Any] | list[Any] | None:
    """MISP's Feed validation: an invalid url reads 'cannot be left blank'; a bad regex gives an empty list
    (so test the answer with `is not None`); None when valid."""
    errors: dict[str, Any] = {}
    if "name" in values and not values["name"]:
        errors["name"] = NOT_BLANK
    url = str(values.get("url", "http://x"))
    if values.get("input_source", "network") == "local":
        if not (url.startswith(MISP_ROOT) or os.path.exists(url)):
            errors["url"] = BAD_PATH
    elif not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        errors["url"] = NOT_BLANK
    if errors:
        return errors
    return None if exclude_regex_ok(values.get("settings")) else []


def embedded(ctx: Ctx, row: Row) -> dict[str, Any]:
    """Tag, Orgc and SharingGroup objects the index and view add when the feed points at one."""
    extra: dict[str, Any] = {}
    if row["tag_id"] and (tag := ctx.store.get("tags", row["tag_id"])) is not None:
        extra["Tag"] = tag_json(tag)
    if row["orgc_id"] and (org := ctx.store.get("organisations", row["orgc_id"])) is not None:
        extra["Orgc"] = org_json(org)
    return extra


@route("/feeds/index", access="user")
def index(ctx: Ctx) -> Response:
    if not ctx.is_site_admin:  # org admins see an empty list (auth--org-admin-refusals)
        return misp_json([])
    rows = ctx.store.all("feeds")
    scope = ctx.named.get("scope", "all")
    if scope in ("default", "custom"):
        rows = [r for r in rows if bool(r["default"]) == (scope == "default")]
    elif scope == "enabled":
        rows = [r for r in rows if r["enabled"]]
    return misp_json([{"Feed": {**feed_json(r), "cache_timestamp": False}, **embedded(ctx, r)} for r in rows])


def feed_or_error(ctx: Ctx, status: int = 404) -> Row:
    row = ctx.store.get("feeds", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise misp_error(status, "Invalid Feed.", ctx.url)
    return row


@route("/feeds/view", access="user")
def view(ctx: Ctx) -> Response:
    if not ctx.is_site_admin:
        raise ctx.not_found("Invalid Feed.")
    row = feed_or_error(ctx)
    return misp_json({"Feed": {**feed_json(row), "cached_elements": 0, "coverage_by_other_feeds": "0%"},
                      **{k: v for k, v in embedded(ctx, row).items() if k == "Tag"}})


@route("/feeds/add", methods=("POST",), wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":  # MISP's add has no GET description: it fails in PHP (feeds--errors step 19)
        raise misp_error(500, "An Internal Error Has Occurred.", ctx.url)
    data = ctx.data("Feed")
    values = {"source_format": "freetext", "fixed_event": 1, "distribution": 0, "settings": "[]", "enabled": 0,
              "input_source": "network", "lookup_visible": 0, "delete_local_file": 0, "rules": None,
              **row_values(data), "default": 0, "event_id": 0}
    values.setdefault("name", "")
    values.setdefault("url", "")
    if (errors := field_errors(values)) is not None:
        raise validation_error("Could not add feed", ctx.url, errors)
    if not data.get("provider"):  # provider is NOT NULL without a default: a database error (feeds--errors 2)
        raise misp_error(500, "An Internal Error Has Occurred.", ctx.url)
    row = ctx.store.insert("feeds", values)  # the same url twice is allowed (feeds--errors steps 7, 8)
    ctx.log("Feed", row["id"], "add", f"Feed ({row['id']}): {row['name']}")
    return misp_json({"Feed": feed_json(row)})


@route("/feeds/edit", methods=("POST", "PUT"))
def edit(ctx: Ctx) -> Response:
    row = feed_or_error(ctx)
    data = ctx.data("Feed")
    values = row_values(data)
    if (errors := field_errors({**row, **values})) is not None:
        raise validation_error("Could not edit feed", "/feeds/edit", errors)  # MISP drops the id here
    if row["rules"] is None and "rules" not in values:  # an edit fills in empty rules (feeds--crud)
        values["rules"] = EMPTY_RULES
    updated = ctx.store.update("feeds", row["id"], values)
    ctx.log("Feed", row["id"], "edit", f"Feed ({row['id']}): {updated['name']}")
    body = feed_json(updated)
    if "pull_rules" in data:  # the answer echoes the alias it was sent (feeds--add-formats step 6)
        body["pull_rules"] = values["rules"]
    return misp_json({"Feed": body})


def toggle(ctx: Ctx, enabled: bool) -> Response:
    row = feed_or_error(ctx, status=405)  # 405, not 404, for a missing feed (feeds--errors steps 12, 13)
    ctx.store.update("feeds", row["id"], {"enabled": int(enabled)})
    ctx.log("Feed", row["id"], "edit", f"Feed ({row['id']}): {row['name']}",
            f"enabled ({bool(row['enabled'])}) => ({enabled})")
    message = "Feed enabled." if enabled else "Feed disabled."
    return misp_json({"name": message, "message": message, "url": ctx.url})


# enable/disable also work over GET (feeds--errors step 18).
@route("/feeds/enable", methods=("GET", "POST"))
def enable(ctx: Ctx) -> Response:
    return toggle(ctx, True)


@route("/feeds/disable", methods=("GET", "POST"))
def disable(ctx: Ctx) -> Response:
    return toggle(ctx, False)


def delete_confirmation(row_id: int) -> Response:
    """GET on delete renders the UI's confirmation modal, with status 200 (feeds--errors step 17)."""
    html = (f'<div id="genericModal" class="modal hide fade" tabindex="-1" role="dialog">\n'
            f'    <div class="modal-header"><h3 id="genericModalLabel">Delete Feed</h3></div>\n'
            f'    <div class="modal-body modal-body-long"><p>Are you sure you want to delete Feed #{row_id}?</p></div>\n'
            f'    <div class="modal-footer"><form action="/feeds/delete/{row_id}" method="post"></form></div>\n</div>')
    return Response(html, media_type=None, headers={"content-type": JSON_TYPE})  # sic: HTML labelled JSON


@route("/feeds/delete", methods=("GET", "POST", "DELETE"))
def delete(ctx: Ctx) -> Response:
    row = feed_or_error(ctx)
    if ctx.method == "GET":
        return delete_confirmation(row["id"])
    ctx.store.delete("feeds", id=row["id"])
    ctx.log("Feed", row["id"], "delete", f"Feed ({row['id']}): {row['name']}")
    return deleted("Feed deleted.", ctx.url, row["id"])


def catalogue_tag(ctx: Ctx, tag: dict[str, Any] | None) -> int:
    """The catalogue entry's tag, captured by name (created when missing), as importFeeds does."""
    if not tag:
        return 0
    found = ctx.store.first("tags", name=tag["name"])
    if found is None:
        found = ctx.store.insert("tags", {"name": tag["name"], "colour": tag.get("colour") or default_colour(
            tag["name"]), "exportable": int(tag.get("exportable", True)), "hide_tag": int(tag.get("hide_tag", False)),
            "org_id": 0, "user_id": 0, "local_only": 0, "is_galaxy": 0, "is_custom_galaxy": 0})
    return int(found["id"])


@route("/feeds/loadDefaultFeeds", methods=("POST",))
def load_default_feeds(ctx: Ctx) -> Response:
    """MISP's 84 default feeds, inserted disabled with distribution 0; a URL already present is left alone."""
    present = {r["url"] for r in ctx.store.all("feeds")}
    for entry in catalogue():
        feed = entry["Feed"]
        if feed["url"] in present:
            continue
        values = {k: v for k, v in row_values(feed).items() if k in CATALOGUE_FIELDS}
        values.update({"default": 1, "enabled": 0, "caching_enabled": 0, "distribution": 0,
                       "input_source": "network", "tag_id": catalogue_tag(ctx, entry.get("Tag"))})
        row = ctx.store.insert("feeds", values)
        present.add(feed["url"])
        ctx.log("Feed", row["id"], "add", f"Feed ({row['id']}): {row['name']}")
    return misp_json({"saved": True, "success": True, "name": "Default feed metadata loaded.",
                      "message": "Default feed metadata loaded.", "url": "/feeds/loadDefaultFeeds"})


# -- work MISP would queue: answered, logged, never done ----------------------------------------------

@route("/feeds/fetchFromFeed", methods=("GET", "POST"))
def fetch_from_feed(ctx: Ctx) -> Response:
    row = feed_or_error(ctx)
    if not row["enabled"]:
        return misp_json({"result": "Feed is currently not enabled. Make sure you enable it."})
    ctx.log("Feed", row["id"], "fetch", f"Feed ({row['id']}): {row['name']}", "fetch queued (sandbox: no network)")
    return misp_json({"result": "Pull queued for background execution."})


@route("/feeds/fetchFromAllFeeds", methods=("GET", "POST"))
def fetch_from_all_feeds(ctx: Ctx) -> Response:
    ctx.log("Feed", 0, "fetch", "All feeds", "fetch queued (sandbox: no network)")
    return misp_json({"result": "Pull queued for background execution."})


CACHE_SCOPES = {"all": None, "freetext": ("freetext", "csv"), "csv": ("csv",), "misp": ("misp",)}


@route("/feeds/cacheFeeds", methods=("GET", "POST"))
def cache_feeds(ctx: Ctx) -> Response:
    scope = ctx.args[0] if ctx.args else "freetext"
    if not scope.isdigit() and scope not in CACHE_SCOPES:
        raise misp_error(405, "Invalid scope.", ctx.url)
    ctx.log("Feed", int(scope) if scope.isdigit() else 0, "cache", f"Feed cache: {scope}",
            "caching queued (sandbox: no network)")
    return misp_json({"saved": True, "success": True, "name": "Feed caching job initiated.",
                      "message": "Feed caching job initiated.", "url": f"/feeds/cacheFeeds/{scope}"})


@route("/feeds/previewIndex", methods=("GET", "POST"), access="user")
def preview_index(ctx: Ctx) -> Response:
    """Stub content in MISP's shapes: a misp feed's manifest events, a freetext/csv feed's parsed values."""
    row = feed_or_error(ctx)
    if row["source_format"] == "misp":
        return misp_json([{"Event": {
            "uuid": "5f0a1e3c-0000-4000-8000-000000000001", "info": f"{row['name']} sample event (sandbox)",
            "date": "2024-01-01", "analysis": "2", "threat_level_id": "4", "timestamp": "1704067200",
            "published": True, "Orgc": {"name": row["provider"], "uuid": "5f0a1e3c-0000-4000-8000-000000000002"},
            "Tag": []}}])
    return misp_json([{"value": "198.51.100.7", "category": "Network activity", "type": "ip-dst", "to_ids": True},
                      {"value": "example.invalid", "category": "Network activity", "type": "domain",
                       "to_ids": True}])


@route("/feeds/toggleSelected", methods=("GET", "POST"))
def toggle_selected(ctx: Ctx) -> Response:
    """UI bulk toggle: /feeds/toggleSelected/{enable}/{cache}/{json list of ids}; answers MISP's redirect."""
    enable_flag = ctx.args[0] if ctx.args else "0"
    cache_flag = ctx.args[1] if len(ctx.args) > 1 else "0"
    try:
        ids = [int(i) for i in json.loads(ctx.args[2])] if len(ctx.args) > 2 else []
    except (ValueError, TypeError):
        raise misp_error(405, "Invalid Feed.", ctx.url) from None
    column = "caching_enabled" if cache_flag == "1" else "enabled"
    for row_id in ids:
        if ctx.store.get("feeds", row_id) is not None:
            ctx.store.update("feeds", row_id, {column: int(enable_flag == "1")})
            ctx.log("Feed", row_id, "edit", f"Feed ({row_id})", f"{column} => ({enable_flag == '1'})")
    return Response("", status_code=302, media_type=None,
                    headers={"location": f"{ctx.app_state.base_url}/feeds/index", "content-type": HTML_TYPE})

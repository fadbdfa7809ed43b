"""Server settings (transcripts server_settings--*, reference sync-ops §4): the catalogue of 378 settings,
values stored only when changed (sandbox_settings), MISP's casts and tests on write, `force` to override."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_error, misp_json, route, validation_error
from reconciler.sandbox.store import Store

EDIT_URL = "/servers/serverSettingsEdit"
# Tests that refuse the "not recommended" value unless forced (reference §4.4 step 5).
REFUSED_WITHOUT_FORCE = {
    "testLive": (False, "MISP is not live; only site admins can log in."),
    "testDisableEmail": (True, "E-mailing is blocked."),
    "testBoolFalse": (True, "Value is not recommended: false is the recommended setting."),
    "testBoolTrue": (False, "Value is not recommended: true is the recommended setting."),
}


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    text = resources.files("reconciler.sandbox").joinpath("data/server-settings.json").read_text("utf-8")
    return {item["name"]: item for item in json.loads(text)}


def current(store: Store, name: str) -> Any:
    row = store.first("sandbox_settings", name=name)
    if row is not None:
        return json.loads(row["value"])
    spec = catalogue()[name]
    return spec["config_default"] if spec.get("in_config_default") else spec.get("default")


def typed(spec: dict[str, Any], value: Any) -> Any:
    """MISP's cast on write: (bool) for booleans — so "false" becomes true — and (int) for numbers."""
    if spec["type"] == "boolean":
        if isinstance(value, str):
            return value.strip() not in ("", "0")
        return bool(value)
    if spec["type"] == "numeric":
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0
    return str(value).strip() if value is not None else value


def definition(name: str, value: Any) -> dict[str, Any]:
    spec = catalogue()[name]
    body: dict[str, Any] = {"level": spec["level"], "description": spec["description"], "value": value,
                            "test": spec["test"], "type": spec["type"]}
    if spec.get("options"):
        body["options"] = spec["options"]
    if spec.get("null"):
        body["null"] = True
    if spec.get("cli_only"):
        body["cli_only"] = True
    body["name"] = name
    return body


@route("/servers/getSetting")
def get_setting(ctx: Ctx) -> Response:
    name = ctx.args[0] if ctx.args else ""
    spec = catalogue().get(name)
    if spec is None:
        raise ctx.not_found(f"Setting {name} is invalid.")
    if spec.get("redacted"):
        raise misp_error(403, "This setting is redacted.", ctx.url)
    return misp_json(definition(name, current(ctx.store, name)))


@route("/servers/serverSettings")
def server_settings(ctx: Ctx) -> Response:
    final = []
    for name, spec in sorted(catalogue().items(), key=lambda item: item[1]["level"]):
        if spec.get("redacted"):
            continue
        entry = {k: v for k, v in definition(name, current(ctx.store, name)).items()
                 if k not in ("description", "name")}
        entry.update({"tab": spec["tab"], "setting": name})
        final.append(entry)
    return misp_json({"version": {"current": "2.5.1"}, "finalSettings": final, "workers": {},
                      "dbSchemaDiagnostics": {"checked_table_column": [], "diagnostic": {}}})


@route("/servers/serverSettingsEdit", methods=("GET", "POST"))
def edit(ctx: Ctx) -> Response:
    name = ctx.args[0] if ctx.args else ""
    spec = catalogue().get(name)
    if spec is None:
        raise ctx.not_found(f"Setting {name} is invalid.")
    if spec.get("cli_only"):
        raise misp_error(405, "This setting can only be edited via the CLI.", ctx.url)
    if ctx.method == "GET":
        if spec.get("redacted"):
            raise misp_error(403, "This setting is redacted.", ctx.url)
        return misp_json({name: current(ctx.store, name)})
    data = ctx.data("Server")
    if "value" not in data or isinstance(data["value"], dict | list) or data["value"] is None:
        raise validation_error("Field not updated", EDIT_URL, "No value set.")
    if data["value"] == "*****":
        raise validation_error("Field not updated", EDIT_URL, "No change.")
    value = typed(spec, data["value"])
    refused = REFUSED_WITHOUT_FORCE.get(spec["test"])
    if refused is not None and value == refused[0] and not data.get("force"):
        raise validation_error("Field not updated", EDIT_URL, refused[1])
    if spec["test"] == "testForEmpty" and value == "" and not data.get("force"):
        raise validation_error("Field not updated", EDIT_URL, "Value not set.")
    old = current(ctx.store, name)
    ctx.store.delete("sandbox_settings", name=name)
    ctx.store.insert("sandbox_settings", {"name": name, "value": json.dumps(value)})
    shown = ("*****", "*****") if spec.get("redacted") else (old, value)
    ctx.log("Server", 0, "serverSettingsEdit", "Server setting changed", f"{name} ({shown[0]}) => ({shown[1]})")
    return misp_json({"saved": True, "success": True, "name": "Field updated", "message": "Field updated",
                      "url": EDIT_URL})

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
    return install_paths(spec["config_default"] if spec.get("in_config_default") else spec.get("default"))


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


# PHP's definitions write `'cli_only' => 1` for these and `true` for the others; the answers keep the
# difference (server_settings--get-setting step 10, server_settings--serverSettings-full).
CLI_ONLY_AS_ONE = frozenset({"Security.rest_client_enable_arbitrary_urls", "Security.disable_local_feed_access",
                             "MISP.python_bin", "MISP.ca_path", "MISP.tmpdir", "MISP.attachments_dir",
                             "GnuPG.binary"})
DEPRECATED_LEVEL = 3  # level-3 settings are defined but never listed in serverSettings
MISP_ROOT = "/var/www/MISP"  # where the twin pretends to be installed ({ROOT} in descriptions)


def options(spec: dict[str, Any]) -> Any:
    """Options keyed 0..n-1 are a PHP list, so they come back as a JSON list (get-setting step 2)."""
    found = spec.get("options")
    if isinstance(found, dict) and list(found) == [str(i) for i in range(len(found))]:
        return list(found.values())
    return found


def description(spec: dict[str, Any]) -> str:
    # MISP fills in {baseurl} with the (relative) base of the install: empty here (get-setting step 6).
    return str(install_paths(str(spec["description"]))).replace("{baseurl}", "")


def install_paths(text: Any) -> Any:
    """{ROOT} and {APP} in defaults and descriptions are the install's paths (get-setting step 17)."""
    if not isinstance(text, str):
        return text
    return text.replace("{ROOT}", MISP_ROOT).replace("{APP}", MISP_ROOT + "/app/")


def attributes(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The optional parts of a definition, in MISP's order, present only when set."""
    body: dict[str, Any] = {}
    if spec.get("null"):
        body["null"] = True
    if spec.get("options_dynamic"):
        body["optionsSource"] = {}
    if spec.get("afterHook"):
        body["afterHook"] = spec["afterHook"]
    if spec.get("options"):
        body["options"] = options(spec)
    if spec.get("cli_only"):
        body["cli_only"] = 1 if name in CLI_ONLY_AS_ONE else True
    return body


def definition(name: str, value: Any) -> dict[str, Any]:
    spec = catalogue()[name]
    body: dict[str, Any] = {"level": spec["level"], "description": description(spec), "value": value}
    if "errorMessage" in spec:
        body["errorMessage"] = spec["errorMessage"]
    body.update({"test": spec["test"], "type": spec["type"], **attributes(name, spec), "name": name})
    return body


def value_of(ctx: Ctx, name: str) -> Any:
    """The current value. MISP.baseurl stays the catalogue's empty default until set, as on a fresh install: the
    recorded instance had it configured (get-setting step 0), and export treats any other value as managed."""
    return current(ctx.store, name)


def branch(name: str) -> dict[str, Any] | None:
    """getSetting with a section name answers the section's raw definitions with their defaults
    (server_settings--get-setting step 17)."""
    members = {n: spec for n, spec in catalogue().items() if n.split(".", 1)[0] == name and "." in n}
    if not members:
        return None
    body: dict[str, Any] = {"branch": 1}
    for full, spec in members.items():
        entry = definition(full, install_paths(spec.get("default")))
        entry.pop("name")
        body[full.split(".", 1)[1]] = entry
    return body


@route("/servers/getSetting")
def get_setting(ctx: Ctx) -> Response:
    name = ctx.args[0] if ctx.args else ""
    spec = catalogue().get(name)
    if spec is None:
        section = branch(name)
        if section is None:
            raise ctx.not_found(f"Setting {name} is invalid.")
        return misp_json(section)
    if spec.get("redacted"):
        raise misp_error(403, "This setting is redacted.", ctx.url)
    return misp_json(definition(name, value_of(ctx, name)))


def is_empty(value: Any) -> bool:
    return value is None or value == ""


def final_entry(ctx: Ctx, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One row of serverSettings' finalSettings: the value (masked when redacted), the definition's flags and
    the result of a weak version of MISP's test: only an empty value is reported ('Value not set.')."""
    value = value_of(ctx, name)
    entry: dict[str, Any] = {"level": spec["level"], "value": "*****" if spec.get("redacted") else value,
                             "test": spec["test"], "type": spec["type"], **attributes(name, spec)}
    if spec.get("redacted"):
        entry["redacted"] = True
    if spec["test"] in ("testForEmpty", "testURL") and is_empty(value):
        entry.update({"error": 1, "errorMessage": "Value not set."})
    if spec["tab"] == "Plugin":  # plugin settings are grouped by their prefix: Plugin.ZeroMQ_port → ZeroMQ
        entry["subGroup"] = name.split(".", 1)[1].split("_", 1)[0]
    entry.update({"tab": spec["tab"], "setting": name})
    return entry


@route("/servers/serverSettings")
def server_settings(ctx: Ctx) -> Response:
    """The settings and diagnostics report. `/servers/serverSettings/{tab}` narrows finalSettings to one tab."""
    from reconciler.sandbox.resources.instance import MISP_VERSION, data_file, schema_diagnostic

    tab = ctx.args[0] if ctx.args else None
    ordered = sorted(catalogue().items(), key=lambda item: item[1]["level"])  # stable: catalogue order per level
    final = [final_entry(ctx, name, spec) for name, spec in ordered
             if spec["level"] < DEPRECATED_LEVEL and (tab is None or spec["tab"] == tab)]
    report = data_file("server-diagnostics.json")
    return misp_json({
        "version": {"current": f"v{MISP_VERSION}", "newest": None, "upToDate": "disabled"},
        **{k: report[k] for k in ("phpSettings", "gpgStatus", "proxyStatus", "zmqStatus", "stix", "moduleStatus",
                                  "writeableDirs", "writeableFiles", "readableFiles", "dbDiagnostics")},
        "dbSchemaDiagnostics": schema_diagnostic(), "dbConfiguration": data_file("db-configuration.json"),
        "redisInfo": report["redisInfo"], "finalSettings": final, "extensions": report["extensions"],
        "workers": report["workers"], "backgroundJobsStatus": report["backgroundJobsStatus"],
    })


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
        return misp_json({name: value_of(ctx, name)})
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
    old = value_of(ctx, name)
    ctx.store.delete("sandbox_settings", name=name)
    ctx.store.insert("sandbox_settings", {"name": name, "value": json.dumps(value)})
    shown = ("*****", "*****") if spec.get("redacted") else (old, value)
    ctx.log("Server", 0, "serverSettingsEdit", "Server setting changed", f"{name} ({shown[0]}) => ({shown[1]})")
    return misp_json({"saved": True, "success": True, "name": "Field updated", "message": "Field updated",
                      "url": EDIT_URL})

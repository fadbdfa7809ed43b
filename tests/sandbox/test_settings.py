"""Server settings (server_settings--*): definitions with MISP's value types, section answers, MISP's weak
validation on edit, cli-only and redacted settings, and the serverSettings report."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox import SandboxApp


async def get(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.get(f"/servers/getSetting/{name}")


async def edit(http: httpx.AsyncClient, name: str, value: object, force: bool | None = None) -> httpx.Response:
    body: dict[str, object] = {"value": value}
    if force is not None:
        body["force"] = force
    return await http.post(f"/servers/serverSettingsEdit/{name}", json=body)


async def test_definitions_keep_misp_types(sandbox_http: httpx.AsyncClient) -> None:
    distribution = (await get(sandbox_http, "MISP.default_event_distribution")).json()
    assert distribution["value"] == "1" and distribution["options"][0] == "Your organisation only"
    assert (await get(sandbox_http, "GnuPG.binary")).json()["cli_only"] == 1  # PHP wrote 1, not true
    assert (await get(sandbox_http, "MISP.online_version_check")).json()["cli_only"] is True
    description = (await get(sandbox_http, "Security.advanced_authkeys")).json()["description"]
    assert 'href="/servers/serverSettings/diagnostics' in description
    baseurl = (await get(sandbox_http, "MISP.baseurl")).json()
    assert baseurl["errorMessage"].startswith("The currently set baseurl") and baseurl["null"] is True


async def test_section_name_answers_its_definitions(sandbox_http: httpx.AsyncClient) -> None:
    section = (await get(sandbox_http, "MISP")).json()
    assert section["branch"] == 1 and section["live"]["type"] == "boolean"
    assert section["tmpdir"]["value"] == "/var/www/MISP/app/tmp"
    assert (await get(sandbox_http, "NoSuchSection")).status_code == 404


async def test_edit_casts_and_reads_back(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    assert (await edit(sandbox_http, "MISP.correlation_limit", "250")).json()["message"] == "Field updated"
    assert (await get(sandbox_http, "MISP.correlation_limit")).json()["value"] == 250
    await edit(sandbox_http, "MISP.welcome_text_top", "  Hello  ")
    value_only = (await sandbox_http.get("/servers/serverSettingsEdit/MISP.welcome_text_top")).json()
    assert value_only == {"MISP.welcome_text_top": "Hello"}
    await edit(sandbox_http, "MISP.disable_emailing", "false", force=True)  # PHP's (bool)"false" is true
    assert (await get(sandbox_http, "MISP.disable_emailing")).json()["value"] is True
    with sandbox_app.state.store.transaction():
        changes = [r["change"] for r in sandbox_app.state.store.find("logs", action="serverSettingsEdit")]
    assert "MISP.correlation_limit (100) => (250)" in changes


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MISP.live", False, "MISP is not live; only site admins can log in."),
    ("MISP.email", "", "Value not set."),
])
async def test_edits_refused_unless_forced(sandbox_http: httpx.AsyncClient, name: str, value: object,
                                           message: str) -> None:
    before = (await get(sandbox_http, name)).json()["value"]
    refused = await edit(sandbox_http, name, value)
    assert refused.status_code == 403 and refused.json()["errors"] == message
    assert (await get(sandbox_http, name)).json()["value"] == before
    assert (await edit(sandbox_http, name, value, force=True)).status_code == 200
    assert (await get(sandbox_http, name)).json()["value"] == value


async def test_cli_only_unknown_redacted_and_bad_values(sandbox_http: httpx.AsyncClient) -> None:
    assert (await edit(sandbox_http, "GnuPG.binary", "/bin/gpg")).status_code == 405
    assert (await edit(sandbox_http, "No.such", "x")).status_code == 404
    assert (await get(sandbox_http, "Security.salt")).status_code == 403  # redacted: never read back
    assert (await edit(sandbox_http, "MISP.welcome_text_top", {"a": 1})).json()["errors"] == "No value set."
    assert (await sandbox_http.post("/servers/serverSettingsEdit/MISP.welcome_text_top", json={})).status_code == 403


async def test_server_settings_report(sandbox_http: httpx.AsyncClient) -> None:
    await edit(sandbox_http, "Plugin.ZeroMQ_port", 50001)
    report = (await sandbox_http.get("/servers/serverSettings")).json()
    assert report["version"] == {"current": "v2.5.1", "newest": None, "upToDate": "disabled"}
    assert report["dbSchemaDiagnostics"]["actual_db_version"] == "130"
    assert {"phpSettings", "writeableDirs", "dbConfiguration", "redisInfo", "extensions"} <= set(report)
    final = {entry["setting"]: entry for entry in report["finalSettings"]}
    assert len(final) == 367  # level-3 (deprecated) settings are not listed
    assert final["Plugin.ZeroMQ_port"]["value"] == 50001 and final["Plugin.ZeroMQ_port"]["subGroup"] == "ZeroMQ"
    assert final["Security.salt"]["value"] == "*****" and final["Security.salt"]["redacted"] is True
    assert final["MISP.external_baseurl"]["errorMessage"] == "Value not set."
    assert "errorMessage" not in final["MISP.email"]  # set by the config's default
    levels = [entry["level"] for entry in report["finalSettings"]]
    assert levels == sorted(levels)
    tab = (await sandbox_http.get("/servers/serverSettings/Security")).json()["finalSettings"]
    assert tab and {entry["tab"] for entry in tab} == {"Security"}

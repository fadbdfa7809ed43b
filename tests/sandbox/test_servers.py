"""Sync servers over HTTP (servers--*): add defaults and refusals, edit quirks, the key never in the index,
certificates by file name, delete's odd answer, and log rows for every write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxApp

KEY = "remoteSyncKey000000000000000000000000000"
SERVER = {"name": "partner", "url": "https://misp.partner.example/", "authkey": KEY, "remote_org_id": "1"}


async def add(http: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await http.post("/servers/add", json={"Server": {**SERVER, **fields}})


async def test_add_defaults_echo_the_key_and_ignore_priority_and_internal(sandbox_http: httpx.AsyncClient) -> None:
    await add(sandbox_http, name="first")
    server = (await add(sandbox_http, priority=7, internal=True, pull=True)).json()["Server"]
    assert server["authkey"] == KEY and server["url"] == "https://misp.partner.example"
    assert server["priority"] == "2" and server["internal"] is False and server["pull"] is True
    assert server["push"] is False and server["remote_org_id"] == "1"
    assert server["pull_rules"].startswith('{"tags":{"OR":[],"NOT":[]}') and server["cert_file"] is None


async def test_index_never_shows_the_key_and_embeds_both_orgs(sandbox_http: httpx.AsyncClient) -> None:
    await add(sandbox_http)
    entry = (await sandbox_http.get("/servers/index")).json()[0]
    assert "authkey" not in entry["Server"] and entry["Server"]["cache_timestamp"] is False
    assert entry["Organisation"]["id"] == entry["RemoteOrg"]["id"] == "1"
    assert (await sandbox_http.get("/servers/index/search:nothing-like-it")).json() == []


@pytest.mark.parametrize(("fields", "status", "errors"), [
    ({"remote_org_id": None}, 405, None),
    ({"remote_org_id": "999"}, 403, {"Organisation": "Invalid Remote Organisation"}),
    ({"url": "not a url"}, 403, {"url": ["Invalid baseurl, please make sure that the protocol is set."]}),
    ({"authkey": "short"}, 403, {"authkey": [
        "The authkey has to be exactly 40 characters long and consist of alphanumeric characters."]}),
    ({"pull_rules": "{not json"}, 403, {"pull_rules": "The pull filter rules must be in valid JSON format."}),
    ({"push_rules": {"tags": {}}}, 500, None),
    ({"name": ""}, 403, {"name": ["This field cannot be left blank"]}),
])
async def test_add_refusals_write_nothing(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient,
                                          fields: dict[str, Any], status: int, errors: Any) -> None:
    answer = await add(sandbox_http, **fields)
    assert answer.status_code == status
    if errors is not None:
        assert answer.json()["errors"] == errors and answer.json()["message"] == "Could not add Server"
    with sandbox_app.state.store.transaction():
        assert sandbox_app.state.store.count("servers") == 0


async def test_get_on_add_describes_it(sandbox_http: httpx.AsyncClient) -> None:
    answer = (await sandbox_http.get("/servers/add")).json()
    assert answer["name"] == "/servers/add API description" and "authkey" in answer["mandatory_fields"]


async def test_edit_quirks(sandbox_http: httpx.AsyncClient) -> None:
    server_id = (await add(sandbox_http)).json()["Server"]["id"]
    edited = (await sandbox_http.post(f"/servers/edit/{server_id}", json={"authkey": "", "internal": True,
                                                                          "priority": 5})).json()["Server"]
    assert edited["authkey"] == KEY and edited["internal"] is True and edited["priority"] == "5"
    bad_url = await sandbox_http.post(f"/servers/edit/{server_id}", json={"url": "ftp:/broken"})
    assert bad_url.status_code == 403 and bad_url.json()["url"] == "/servers/edit"
    unknown_org = (await sandbox_http.post(f"/servers/edit/{server_id}", json={"remote_org_id": "999"})).json()
    assert unknown_org["Server"]["remote_org_id"] == "999"  # saved unchecked, as MISP does
    assert (await sandbox_http.get("/servers/index")).json()[0]["RemoteOrg"]["name"] is None
    cleared = (await sandbox_http.post(f"/servers/edit/{server_id}", json={"pull_rules": ""})).json()["Server"]
    assert cleared["pull_rules"] == ""


async def test_certificates_are_stored_by_file_name(sandbox_http: httpx.AsyncClient) -> None:
    server = (await add(sandbox_http, submitted_cert="LS0tLS1CRUdJTg==")).json()["Server"]
    assert server["cert_file"] == f"{server['id']}.pem"
    edited = (await sandbox_http.post(f"/servers/edit/{server['id']}", json={
        "delete_cert": True, "submitted_client_cert": "LS0tLS1CRUdJTg=="})).json()["Server"]
    assert edited["cert_file"] == "" and edited["client_cert_file"] == f"{server['id']}_client.pem"


async def test_delete_answer_and_missing_servers(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    server_id = (await add(sandbox_http)).json()["Server"]["id"]
    assert (await sandbox_http.get(f"/servers/delete/{server_id}")).status_code == 405
    answer = (await sandbox_http.post(f"/servers/delete/{server_id}")).json()
    assert answer["id"] == "Server deleted" and answer["url"] == "/servers/delete/Server deleted"
    for path in (f"/servers/delete/{server_id}", "/servers/edit/999"):
        missing = await sandbox_http.post(path, json={"name": "x"})
        assert (missing.status_code, missing.json()["message"]) == (404, "Invalid server")
    with sandbox_app.state.store.transaction():
        rows = sandbox_app.state.store.find("logs", model="Server")
    assert [r["action"] for r in rows] == ["add", "delete"]
    assert all(KEY not in (r["change"] or "") + (r["title"] or "") for r in rows)


async def test_servers_are_site_admin_only(sandbox_http: httpx.AsyncClient) -> None:
    user = (await sandbox_http.post("/admin/users/add", json={"email": "oa@x.test", "org_id": "1",
                                                              "role_id": "2"})).json()["User"]
    key = (await sandbox_http.post(f"/auth_keys/add/{user['id']}", json={})).json()["AuthKey"]["authkey_raw"]
    headers = {"Authorization": key}
    assert (await sandbox_http.get("/servers/index", headers=headers)).status_code == 403
    assert (await sandbox_http.post("/servers/add", json=SERVER, headers=headers)).status_code == 403


async def test_change_priority_swaps_then_renumbers(sandbox_http: httpx.AsyncClient) -> None:
    ids = [(await add(sandbox_http, name=f"s{i}")).json()["Server"]["id"] for i in range(3)]
    answer = await sandbox_http.post(f"/servers/changePriority/{ids[2]}/up")
    assert answer.json()["message"] == "Priority changed."
    order = sorted((await sandbox_http.get("/servers/index")).json(), key=lambda e: int(e["Server"]["priority"]))
    assert [e["Server"]["id"] for e in order] == [ids[0], ids[2], ids[1]]
    assert [e["Server"]["priority"] for e in order] == ["1", "2", "3"]
    assert (await sandbox_http.post(f"/servers/changePriority/{ids[0]}/sideways")).status_code == 403
    assert (await sandbox_http.post("/servers/changePriority/999/up")).status_code == 404

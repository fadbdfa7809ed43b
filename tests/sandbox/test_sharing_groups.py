"""Sharing groups over HTTP as MISP 2.5.1 answers them (transcripts sharing_groups--*, auth--org-admin-refusals)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

REMOTE_UUID = "c4538c36-750e-4c69-aa97-818ea059832b"
SG_UUID = "1556ada8-7af0-44c7-84ab-b8d9225ea4f4"


async def add_org(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    org: dict[str, Any] = (await http.post("/admin/organisations/add", json={"name": name})).json()["Organisation"]
    return org


async def add_sg(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/sharing_groups/add", json={"releasability": "r", **body})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def add_server(http: httpx.AsyncClient, remote_org_id: str) -> str:
    response = await http.post("/servers/add", json={"name": "Peer", "url": "http://127.0.0.1:9380",
                                                     "authkey": "f" * 40, "remote_org_id": remote_org_id})
    assert response.status_code == 200, response.text
    return str(response.json()["Server"]["id"])


async def test_add_captures_flat_and_nested_members_and_creates_unknown_orgs(sandbox_http: httpx.AsyncClient) -> None:
    a, b = await add_org(sandbox_http, "Org A"), await add_org(sandbox_http, "Org B")
    sg = await add_sg(sandbox_http, name="Banking", SharingGroupOrg=[
        {"extend": True, "Organisation": {"uuid": a["uuid"], "name": a["name"]}},
        {"uuid": b["uuid"], "name": b["name"], "extend": False},
        {"Organisation": {"uuid": REMOTE_UUID, "name": "Remote Org"}}])
    members = {m["Organisation"]["name"]: m["extend"] for m in sg["SharingGroupOrg"]}
    assert members == {"Org A": True, "Org B": False, "Remote Org": False}
    assert sg["SharingGroup"]["org_id"] == "1" and sg["SharingGroup"]["active"] is True
    # No SharingGroupServer sent and not roaming: MISP adds this instance as server 0.
    assert [(s["server_id"], s["all_orgs"]) for s in sg["SharingGroupServer"]] == [("0", False)]
    external = (await sandbox_http.get(f"/organisations/index/scope:external/searchall:{REMOTE_UUID}")).json()
    assert [o["Organisation"]["name"] for o in external] == ["Remote Org"]


async def test_add_with_an_existing_uuid_updates_that_group(sandbox_http: httpx.AsyncClient) -> None:
    first = await add_sg(sandbox_http, name="Pinned", uuid=SG_UUID, description="one")
    again = await add_sg(sandbox_http, name="Pinned renamed", uuid=SG_UUID, description="two")
    assert again["SharingGroup"]["id"] == first["SharingGroup"]["id"]
    assert (again["SharingGroup"]["name"], again["SharingGroup"]["description"]) == ("Pinned renamed", "two")
    listed = (await sandbox_http.get("/sharing_groups/index")).json()["response"]
    assert [g["SharingGroup"]["uuid"] for g in listed] == [SG_UUID]


async def test_a_duplicate_name_gets_a_number_suffix(sandbox_http: httpx.AsyncClient) -> None:
    await add_sg(sandbox_http, name="Same")
    second = await add_sg(sandbox_http, name="Same")
    assert re.fullmatch(r"Same_\d{1,4}", second["SharingGroup"]["name"])


@pytest.mark.parametrize("body", [{"releasability": "r"}, {"name": "  "}, {"name": "Bad uuid", "uuid": "nope"}])
async def test_add_refuses_missing_name_and_bad_uuid(sandbox_http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await sandbox_http.post("/sharing_groups/add", json=body)
    assert response.status_code == 403
    assert response.json() == {"saved": False, "name": "Could not add SharingGroup",
                               "message": "Could not add SharingGroup", "url": "/sharing_groups/add",
                               "errors": "Could not save sharing group."}
    assert (await sandbox_http.get("/sharing_groups/index")).json() == {"response": []}


async def test_view_and_index_shapes(sandbox_http: httpx.AsyncClient) -> None:
    a = await add_org(sandbox_http, "Org A")
    sg = await add_sg(sandbox_http, name="Shapes", SharingGroupOrg=[{"uuid": a["uuid"], "name": "Org A"}])
    sg_id = sg["SharingGroup"]["id"]
    for ident in (sg_id, sg["SharingGroup"]["uuid"]):
        view = (await sandbox_http.get(f"/sharing_groups/view/{ident}")).json()
        assert view["SharingGroupServer"][0]["Server"] == {"id": "0", "name": "Local instance",
                                                           "url": "http://127.0.0.1:8080"}
        assert view["SharingGroupOrg"][0]["Organisation"]["local"] is True
        assert view["SharingGroup"]["sync_org_name"] == view["Organisation"]["name"]
    listed = (await sandbox_http.get("/sharing_groups/index")).json()["response"][0]
    assert listed["SharingGroup"]["org_count"] == "1" and listed["SharingGroupServer"][0]["Server"] == []
    assert set(listed) == {"SharingGroup", "Organisation", "SharingGroupOrg", "SharingGroupServer",
                           "editable", "deletable"}
    missing = await sandbox_http.get("/sharing_groups/view/999")
    assert missing.status_code == 405 and "doesn&#039;t exist" in missing.json()["name"]


async def test_add_and_remove_org(sandbox_http: httpx.AsyncClient) -> None:
    a = await add_org(sandbox_http, "Org A")
    sg_id = (await add_sg(sandbox_http, name="Members"))["SharingGroup"]["id"]
    added = await sandbox_http.post(f"/sharing_groups/addOrg/{sg_id}/{a['id']}/1", json={})
    assert added.json()["name"] == "Organisation added to the sharing group."
    again = await sandbox_http.post("/sharing_groups/addOrg", json={"sg_id": sg_id, "org_uuid": a["uuid"]})
    assert (again.status_code, again.json()["errors"]) == (403, "Organisation is already in the sharing group.")
    view = (await sandbox_http.get(f"/sharing_groups/view/{sg_id}")).json()
    assert [(m["org_id"], m["extend"]) for m in view["SharingGroupOrg"]] == [(a["id"], True)]
    removed = await sandbox_http.post(f"/sharing_groups/removeOrg/{sg_id}/{a['id']}", json={})
    assert removed.json()["name"] == "Organisation removed from the sharing group."
    not_member = await sandbox_http.post(f"/sharing_groups/removeOrg/{sg_id}/{a['id']}", json={})
    assert (not_member.status_code, not_member.json()["errors"]) == (403, "Organisation is not in the sharing group.")
    unknown = await sandbox_http.post(f"/sharing_groups/addOrg/{sg_id}/99999", json={})
    assert (unknown.status_code, unknown.json()["name"]) == (405, "Invalid organisation.")
    no_sg = await sandbox_http.post(f"/sharing_groups/addOrg/99999/{a['id']}", json={})
    assert (no_sg.status_code, no_sg.json()["name"]) == (405, "Invalid sharing group or no editing rights.")


async def test_servers_unknown_and_local_are_refused(sandbox_http: httpx.AsyncClient) -> None:
    sg_id = (await add_sg(sandbox_http, name="Servers"))["SharingGroup"]["id"]
    for server in ("99999", "0"):  # server 0 (this instance) is only reachable through add/edit bodies
        response = await sandbox_http.post(f"/sharing_groups/addServer/{sg_id}/{server}", json={})
        assert (response.status_code, response.json()["name"]) == (405, "Invalid Server.")


async def test_add_server_and_remove_servers_recorded_bug(sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, "Peer Org")
    await add_sg(sandbox_http, name="Padding")  # its server-0 row takes the id equal to the server's id
    server_id = await add_server(sandbox_http, org["id"])
    sg_id = (await add_sg(sandbox_http, name="Servers"))["SharingGroup"]["id"]
    added = await sandbox_http.post(f"/sharing_groups/addServer/{sg_id}/{server_id}", json={"all_orgs": True})
    assert added.json()["name"] == "Server added to the sharing group."
    twice = await sandbox_http.post(f"/sharing_groups/addServer/{sg_id}/{server_id}", json={})
    assert (twice.status_code, twice.json()["errors"]) == (403, "Server is already in the sharing group.")
    removed = await sandbox_http.post(f"/sharing_groups/removeServer/{sg_id}/{server_id}", json={})
    # MISP deletes by the row's primary key, so the group's own row stays and the answer is a failure.
    assert (removed.status_code, removed.json()["errors"]) == (403, "Server could not be removed from the sharing group.")
    view = (await sandbox_http.get(f"/sharing_groups/view/{sg_id}")).json()
    assert [(s["server_id"], s["all_orgs"]) for s in view["SharingGroupServer"]] == [("0", False), (server_id, True)]


async def test_edit_applies_fields_ignores_an_empty_name_and_describes_on_get(sandbox_http: httpx.AsyncClient) -> None:
    sg_id = (await add_sg(sandbox_http, name="Editable"))["SharingGroup"]["id"]
    edited = (await sandbox_http.post(f"/sharing_groups/edit/{sg_id}", json={"description": "d", "active": False})).json()
    assert (edited["SharingGroup"]["description"], edited["SharingGroup"]["active"]) == ("d", True)
    empty = await sandbox_http.post(f"/sharing_groups/edit/{sg_id}", json={"name": ""})
    assert (empty.status_code, empty.json()["SharingGroup"]["name"]) == (200, "Editable")
    described = (await sandbox_http.get(f"/sharing_groups/edit/{sg_id}")).json()
    assert described["name"] == "/sharing_groups/edit API description" and described["mandatory_fields"] == []
    add_description = (await sandbox_http.get("/sharing_groups/add")).json()
    assert add_description["mandatory_fields"] == ["name", "releasability"]
    missing = await sandbox_http.post("/sharing_groups/edit/999", json={"name": "x"})
    assert (missing.status_code, missing.json()["name"]) == (404, "Invalid sharing group.")


async def test_delete_cascades_and_wants_post(sandbox_http: httpx.AsyncClient) -> None:
    a = await add_org(sandbox_http, "Org A")
    sg_id = (await add_sg(sandbox_http, name="Gone", SharingGroupOrg=[{"uuid": a["uuid"]}]))["SharingGroup"]["id"]
    wrong = await sandbox_http.get(f"/sharing_groups/delete/{sg_id}")
    assert (wrong.status_code, wrong.json()["name"], wrong.headers["allow"]) == (405, "Method Not Allowed",
                                                                               "POST, DELETE")
    gone = (await sandbox_http.post(f"/sharing_groups/delete/{sg_id}", json={})).json()
    assert (gone["name"], gone["id"]) == ("SharingGroup deleted", sg_id)
    assert (await sandbox_http.get(f"/sharing_groups/view/{sg_id}")).status_code == 405
    again = await sandbox_http.post(f"/sharing_groups/delete/{sg_id}", json={})
    assert (again.status_code, again.json()["name"]) == (405, "Action not allowed.")
    logs = (await sandbox_http.get("/admin/logs/index/model:SharingGroup")).json()
    assert [r["Log"]["action"] for r in logs] == ["add", "delete"]


async def test_org_admin_must_list_its_own_org_with_extend(sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, "Other")
    roles = {r["Role"]["name"]: r["Role"]["id"] for r in (await sandbox_http.get("/roles/index")).json()}
    user = (await sandbox_http.post("/admin/users/add", json={
        "email": "oa@other.example", "org_id": org["id"], "role_id": roles["Org Admin"]})).json()["User"]
    key = {"Authorization": user["authkey"]}
    bare = await sandbox_http.post("/sharing_groups/add", headers=key, json={"name": "By org admin"})
    assert (bare.status_code, bare.json()["errors"]) == (403, "Could not save sharing group.")
    listed = await sandbox_http.post("/sharing_groups/add", headers=key, json={
        "name": "By org admin", "SharingGroupOrg": [{"extend": True, "Organisation": {"uuid": org["uuid"]}}]})
    assert listed.status_code == 200 and listed.json()["SharingGroup"]["org_id"] == org["id"]
    sg_id = listed.json()["SharingGroup"]["id"]
    # The owner has extend rights, yet MISP applies its edit to nothing: 200 with the group unchanged.
    unchanged = await sandbox_http.post(f"/sharing_groups/edit/{sg_id}", headers=key, json={"name": "x"})
    assert (unchanged.status_code, unchanged.json()["SharingGroup"]["name"]) == (200, "By org admin")
    other = await add_org(sandbox_http, "Third")
    added = await sandbox_http.post(f"/sharing_groups/addOrg/{sg_id}/{other['id']}", headers=key, json={})
    assert added.json()["name"] == "Organisation added to the sharing group."
    foreign = (await add_sg(sandbox_http, name="Admin's"))["SharingGroup"]["id"]
    refused = await sandbox_http.post(f"/sharing_groups/edit/{foreign}", headers=key, json={"name": "x"})
    assert (refused.status_code, refused.json()["name"]) == (405, "Action not allowed.")
    no_rights = await sandbox_http.post(f"/sharing_groups/addOrg/{foreign}/{other['id']}", headers=key, json={})
    assert (no_rights.status_code, no_rights.json()["name"]) == (405, "Invalid sharing group or no editing rights.")


async def test_index_filters_and_inactive_groups(sandbox_http: httpx.AsyncClient) -> None:
    a = await add_org(sandbox_http, "Org A")
    await add_sg(sandbox_http, name="Alpha", SharingGroupOrg=[{"uuid": a["uuid"]}])
    await add_sg(sandbox_http, name="Beta", description="second")
    await add_sg(sandbox_http, name="Dormant", active=False)

    async def names(path: str) -> list[str]:
        return [g["SharingGroup"]["name"] for g in (await sandbox_http.get(path)).json()["response"]]

    assert await names("/sharing_groups/index") == ["Alpha", "Beta"]
    assert await names("/sharing_groups/index/true") == ["Dormant"]
    assert await names("/sharing_groups/index/value:SECOND") == ["Beta"]
    assert await names(f"/sharing_groups/index/searchorg:{a['uuid']}") == ["Alpha"]


async def test_the_owner_views_its_group_but_the_index_ignores_ownership(sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, "Other")
    roles = {r["Role"]["name"]: r["Role"]["id"] for r in (await sandbox_http.get("/roles/index")).json()}
    user = (await sandbox_http.post("/admin/users/add", json={
        "email": "oa@other.example", "org_id": org["id"], "role_id": roles["Org Admin"]})).json()["User"]
    key = {"Authorization": user["authkey"]}
    sg = (await sandbox_http.post("/sharing_groups/add", headers=key, json={
        "name": "Owned", "SharingGroupOrg": [{"extend": True, "Organisation": {"uuid": org["uuid"]}}]})).json()
    sg_id = sg["SharingGroup"]["id"]
    await sandbox_http.post(f"/sharing_groups/removeOrg/{sg_id}/{org['id']}", json={})
    assert (await sandbox_http.get(f"/sharing_groups/view/{sg_id}", headers=key)).status_code == 200
    assert (await sandbox_http.get("/sharing_groups/index", headers=key)).json() == {"response": []}

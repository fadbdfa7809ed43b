"""Org and event blocklists over HTTP: bulk add by uuid, edit/delete by id or uuid, MISP's seed rows."""

from __future__ import annotations

import httpx
import pytest

SEEDED = ["58d38339-7b24-4386-b4b4-4c0f950d210f", "58d38326-eda8-443a-9fa8-4e12950d210f"]
U1, U2 = "3a921c98-2551-4b98-9e11-0f7744cea4bb", "C55F50EA-4469-413A-90ED-B4A782AC8EE1"


async def test_org_blocklist_ships_misp_examples(sandbox_http: httpx.AsyncClient) -> None:
    rows = (await sandbox_http.get("/org_blocklists/index")).json()
    assert [r["org_uuid"] for r in rows] == SEEDED
    assert rows[0]["blocked_data"] == {"blocked_amount": False, "blocked_last_time": False}


async def test_event_blocklist_round_trip(sandbox_http: httpx.AsyncClient) -> None:
    added = (await sandbox_http.post("/event_blocklists/add", json={
        "uuids": [U1, U2], "comment": "c", "event_info": "info", "event_orgc": "Orgc"})).json()
    assert added == {"result": {"successes": [U1, U2], "fails": []},
                     "message": "Done. Added 2 new entries to the blocklist. 0 entries could not be saved."}
    rows = (await sandbox_http.get("/event_blocklists/index")).json()
    assert [r["event_uuid"] for r in rows] == [U1, U2.lower()] and "blocked_data" not in rows[0]
    only = (await sandbox_http.get(f"/event_blocklists/index/event_uuid:{U1}")).json()
    assert [r["id"] for r in only] == [rows[0]["id"]]
    edited = (await sandbox_http.post(f"/event_blocklists/edit/{U2.lower()}",
                                      json={"EventBlocklist": {"event_orgc": "Other"}})).json()
    assert edited["EventBlocklist"]["event_orgc"] == "Other" and edited["EventBlocklist"]["comment"] == "c"
    gone = (await sandbox_http.post(f"/event_blocklists/delete/{rows[0]['id']}", json={})).json()
    assert gone["name"] == "Blocklist entry removed" and gone["id"] == rows[0]["id"]
    assert [r["event_uuid"] for r in (await sandbox_http.get("/event_blocklists/index")).json()] == [U2.lower()]


async def test_bad_and_duplicate_uuids_are_reported_as_fails(sandbox_http: httpx.AsyncClient) -> None:
    body = (await sandbox_http.post("/org_blocklists/add", json={
        "uuids": [SEEDED[0], "not-a-uuid", U1], "org_name": "X"})).json()
    assert body["result"] == {"successes": [U1], "fails": [SEEDED[0], "not-a-uuid"]}
    assert body["message"] == "Done. Added 1 new entries to the blocklist. 2 entries could not be saved."
    single = (await sandbox_http.post("/org_blocklists/add", json={"uuids": U2})).json()
    assert single["result"]["successes"] == [U2]


@pytest.mark.parametrize("action", ["edit", "delete"])
async def test_missing_entry_is_404(sandbox_http: httpx.AsyncClient, action: str) -> None:
    response = await sandbox_http.post(f"/org_blocklists/{action}/{U1}", json={"comment": "x"})
    assert (response.status_code, response.json()["name"]) == (404, "Invalid blocklist entry")


async def test_writes_are_logged(sandbox_http: httpx.AsyncClient) -> None:
    await sandbox_http.post("/org_blocklists/add", json={"uuids": [U1]})
    await sandbox_http.post(f"/org_blocklists/delete/{U1}", json={})
    logs = (await sandbox_http.get("/admin/logs/index/model:OrgBlocklist")).json()
    assert [r["Log"]["action"] for r in logs] == ["add", "delete"]

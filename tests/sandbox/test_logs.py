"""Application and audit logs over HTTP: filters, paging in SQL, scopes, MISP's row text."""

from __future__ import annotations

import httpx

ORG = {"name": "Log Org", "description": "for log test"}


async def _org_lifecycle(http: httpx.AsyncClient) -> str:
    org = (await http.post("/admin/organisations/add", json=ORG)).json()["Organisation"]
    await http.post(f"/admin/organisations/edit/{org['id']}", json={"description": "edited"})
    await http.post(f"/admin/organisations/delete/{org['id']}", json={})
    return str(org["id"])


async def test_org_add_edit_delete_write_misp_log_rows_oldest_first(sandbox_http: httpx.AsyncClient) -> None:
    org_id = await _org_lifecycle(sandbox_http)
    rows = (await sandbox_http.get(f"/admin/logs/index/model:Organisation/model_id:{org_id}")).json()
    logs = [r["Log"] for r in rows]
    assert [log["action"] for log in logs] == ["add", "edit", "delete"]
    assert logs[0]["description"] == f'Organisation "Log Org" ({org_id}) added by User "admin@admin.test" (1).'
    assert logs[1]["description"].endswith("updated by User \"admin@admin.test\" (1).")
    assert logs[1]["change"].startswith("description (for log test) => (edited)")
    assert logs[2]["change"] == "" and logs[0]["ip"] == "" and logs[0]["model_id"] == org_id


async def test_filters_by_named_param_and_posted_list(sandbox_http: httpx.AsyncClient) -> None:
    org_id = await _org_lifecycle(sandbox_http)
    named = (await sandbox_http.get(f"/admin/logs/index/model:Organisation/model_id:{org_id}/action:add")).json()
    assert [r["Log"]["action"] for r in named] == ["add"]
    posted = (await sandbox_http.post("/admin/logs/index", json={
        "model": "Organisation", "model_id": org_id, "action": ["edit", "delete"]})).json()
    assert [r["Log"]["action"] for r in posted] == ["edit", "delete"]
    assert (await sandbox_http.get("/admin/logs/index/model:Nothing")).json() == []
    assert (await sandbox_http.get("/admin/logs/index/model_id:abc")).json() == []


async def test_limit_and_page_cut_the_list(sandbox_http: httpx.AsyncClient) -> None:
    await _org_lifecycle(sandbox_http)
    await _org_lifecycle(sandbox_http)
    every = [r["Log"]["id"] for r in (await sandbox_http.get("/admin/logs/index/limit:100")).json()]
    page2 = [r["Log"]["id"] for r in (await sandbox_http.get("/admin/logs/index/limit:2/page:2")).json()]
    assert len(every) >= 6 and every == sorted(every, key=int)
    assert page2 == every[2:4]
    bad = await sandbox_http.get("/admin/logs/index/limit:x")
    assert bad.status_code == 400


async def test_post_without_filters_is_refused_with_misp_message(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.post("/admin/logs/index", json={})
    assert response.status_code == 400
    assert response.json()["url"] == "/logs/admin_index"
    assert response.json()["name"].startswith("Either specify the search terms in the url")


async def test_non_admin_path_and_audit_log_carry_the_request_id(sandbox_http: httpx.AsyncClient) -> None:
    org = (await sandbox_http.post("/admin/organisations/add", json=ORG,
                                   headers={"X-Request-Id": "run-42"})).json()["Organisation"]
    own = (await sandbox_http.get(f"/logs/index/model:Organisation/model_id:{org['id']}")).json()
    assert [r["Log"]["action"] for r in own] == ["add"]
    audit = (await sandbox_http.get("/admin/audit_logs/index/request_id:run-42")).json()
    assert [a["AuditLog"]["model_id"] for a in audit] == [str(org["id"])]
    assert audit[0]["AuditLog"]["model"] == "Organisation" and audit[0]["AuditLog"]["action"] == "add"
    assert isinstance(audit[0]["AuditLog"]["change"], str)


async def test_logs_need_an_api_key(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.get("/admin/logs/index", headers={"Authorization": ""})
    assert response.status_code == 403


async def test_created_range_filters(sandbox_http: httpx.AsyncClient) -> None:
    await _org_lifecycle(sandbox_http)
    today = (await sandbox_http.get("/admin/logs/index/limit:1")).json()[0]["Log"]["created"][:10]
    assert len((await sandbox_http.post("/admin/logs/index", json={"from": today, "to": today})).json()) >= 3
    assert (await sandbox_http.post("/admin/logs/index", json={"to": "2000-01-01"})).json() == []
    assert (await sandbox_http.post("/admin/logs/index", json={"from": "2999-01-01"})).json() == []


async def test_an_org_admin_sees_only_its_org_and_a_user_only_itself(sandbox_http: httpx.AsyncClient) -> None:
    org = (await sandbox_http.post("/admin/organisations/add", json={"name": "Other"})).json()["Organisation"]
    roles = {r["Role"]["name"]: r["Role"]["id"] for r in (await sandbox_http.get("/roles/index")).json()}
    added = (await sandbox_http.post("/admin/users/add", json={
        "email": "oa@other.example", "org_id": org["id"], "role_id": roles["Org Admin"]})).json()["User"]
    key = {"Authorization": added["authkey"]}
    await sandbox_http.post("/admin/users/add", headers=key, json={"email": "u2@other.example", "role_id": roles["User"]})
    mine = [r["Log"] for r in (await sandbox_http.get("/admin/logs/index", headers=key)).json()]
    assert mine and {log["org"] for log in mine} == {"Other"}
    own = [r["Log"] for r in (await sandbox_http.get("/logs/index", headers=key)).json()]
    assert own and {log["email"] for log in own} == {"oa@other.example"}
    every = (await sandbox_http.get("/admin/logs/index/limit:1000")).json()
    assert len(every) > len(mine)

"""Organisations in the sandbox behave as recorded (transcripts organisations--*, logs--org-lifecycle)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox import SandboxApp


async def add_org(http: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    response = await http.post("/admin/organisations/add", json=fields)
    assert response.status_code == 200, response.text
    org: dict[str, object] = response.json()["Organisation"]
    return org


async def test_add_minimal_has_misp_types(sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, name="Minimal")
    assert isinstance(org["id"], str) and org["local"] is True and org["created_by"] == "1"
    assert org["type"] == "" and org["description"] is None and org["restricted_to_domain"] is None


async def test_client_uuid_is_lower_cased_and_found_by_uuid_and_name(sandbox_http: httpx.AsyncClient) -> None:
    uuid = "5E0B5C4E-2B7C-4E53-9A3B-1D1F0C6A7B8C"
    org = await add_org(sandbox_http, Organisation={"name": "Wrapped", "uuid": uuid,
                                                    "restricted_to_domain": ["a.example", "b.example"]})
    assert org["uuid"] == uuid.lower() and org["restricted_to_domain"] == ["a.example", "b.example"]
    for ident in (uuid.lower(), "Wrapped", org["id"]):
        view = (await sandbox_http.get(f"/organisations/view/{ident}")).json()["Organisation"]
        assert view["id"] == org["id"] and view["user_count"] == "0" and view["created_by_email"] == "admin@admin.test"


@pytest.mark.parametrize(("body", "errors"), [
    ({"name": "ORGNAME"}, {"name": ["An organisation with this name already exists."]}),
    ({"name": "Bad uuid", "uuid": "not-a-uuid"}, {"uuid": ["Please provide a valid RFC 4122 UUID"]}),
])
async def test_add_refusals(sandbox_http: httpx.AsyncClient, body: dict[str, str], errors: object) -> None:
    response = await sandbox_http.post("/admin/organisations/add", json=body)
    assert response.status_code == 403
    assert response.json() == {"saved": False, "name": "Could not add Organisation",
                               "message": "Could not add Organisation", "url": "/admin/organisations/add",
                               "errors": errors}


async def test_duplicate_uuid_is_refused(sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, name="First")
    response = await sandbox_http.post("/admin/organisations/add", json={"name": "Second", "uuid": org["uuid"]})
    assert response.json()["errors"] == {"uuid": ["An organisation with this UUID already exists."]}


async def test_scope_only_through_named_parameter(sandbox_http: httpx.AsyncClient) -> None:
    await add_org(sandbox_http, name="Outside", local=False)

    async def names(path: str) -> set[str]:
        return {o["Organisation"]["name"] for o in (await sandbox_http.get(path)).json()}

    assert "Outside" not in await names("/organisations/index")
    assert "Outside" not in await names("/organisations/index?scope=external")  # MISP ignores the query string
    assert await names("/organisations/index/scope:external") == {"Outside"}
    assert await names("/organisations/index/scope:all") == {"ORGNAME", "Outside"}


async def test_edit_delete_and_their_log_rows(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, name="Logged", description="for log test")
    edited = await sandbox_http.post(f"/admin/organisations/edit/{org['id']}",
                                     json={"description": "edited", "restricted_to_domain": "x.example\ny.example"})
    assert edited.json()["Organisation"]["restricted_to_domain"] == ["x.example", "y.example"]
    gone = await sandbox_http.post(f"/admin/organisations/delete/{org['id']}", json={})
    assert gone.json()["message"] == "Organisation deleted"
    assert (await sandbox_http.get(f"/organisations/view/{org['id']}")).status_code == 404
    with sandbox_app.state.store.transaction():
        logs = [(r["action"], r["title"], r["change"]) for r in sandbox_app.state.store.find("logs", model="Organisation")]
    assert [(a, t) for a, t, _ in logs] == [("add", "Logged"), ("edit", "Logged"), ("delete", "Logged")]
    assert logs[0][2].startswith("created_by () => (1), local () => (1), name () => (Logged), description () =>")
    assert logs[1][2] == ('description (for log test) => (edited), '
                          'restricted_to_domain () => (["x.example","y.example"])')


async def test_missing_ids_and_methods(sandbox_http: httpx.AsyncClient) -> None:
    for response in (await sandbox_http.get("/organisations/view/99999"),
                     await sandbox_http.post("/admin/organisations/edit/99999", json={"name": "x"}),
                     await sandbox_http.post("/admin/organisations/delete/99999", json={})):
        assert response.status_code == 404 and response.json()["message"] == "Invalid organisation"
    assert (await sandbox_http.get("/admin/organisations/delete/1")).status_code == 405
    described = (await sandbox_http.get("/admin/organisations/add")).json()
    assert described["mandatory_fields"] == ["name"]
    bad_json = await sandbox_http.post("/admin/organisations/add", content=b"{not json")
    assert bad_json.status_code == 405 and bad_json.json()["message"].startswith("Invalid JSON input.")


async def test_org_admin_sees_no_creator(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    org = await add_org(sandbox_http, name="Tenant")
    user = (await sandbox_http.post("/admin/users/add", json={"email": "oa@tenant.example", "org_id": org["id"],
                                                              "role_id": "2"})).json()["User"]
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080", headers={
            "Authorization": user["authkey"], "Accept": "application/json"}) as org_admin:
        listed = (await org_admin.get("/organisations/index")).json()
        refused = await org_admin.post("/admin/organisations/add", json={"name": "Nope"})
    assert all("created_by" not in o["Organisation"] and "created_by_email" not in o["Organisation"] for o in listed)
    assert refused.status_code == 403


async def test_index_of_many_orgs_is_one_fast_request(sandbox_app: SandboxApp,
                                                      sandbox_http: httpx.AsyncClient) -> None:
    with sandbox_app.state.store.transaction():
        for n in range(1000):
            sandbox_app.state.store.insert("organisations", {"name": f"Bulk {n}", "uuid": f"bulk-{n}", "local": 1,
                                                             "created_by": 1, "date_created": "", "date_modified": ""})
    listed = (await sandbox_http.get("/organisations/index")).json()  # speed: bench/sandbox_bench.py
    assert len(listed) == 1001

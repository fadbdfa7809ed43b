"""Roles in the sandbox behave as recorded (transcripts roles--*)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox import SandboxApp

EVENT_FLAGS = ("perm_add", "perm_modify", "perm_modify_org", "perm_publish")


async def add_role(http: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    response = await http.post("/admin/roles/add", json=fields)
    assert response.status_code == 200, response.text
    role: dict[str, object] = response.json()["Role"]
    return role


async def test_index_has_the_six_default_roles_and_the_default(sandbox_http: httpx.AsyncClient) -> None:
    roles = [r["Role"] for r in (await sandbox_http.get("/roles/index")).json()]
    assert [r["name"] for r in roles] == ["admin", "Org Admin", "User", "Publisher", "Sync user", "Read Only"]
    assert [r["id"] for r in roles if r["default"]] == ["3"]
    assert roles[0]["permission"] == "3" and roles[0]["permission_description"] == "publish"


@pytest.mark.parametrize(("level", "flags", "description"), [
    (0, (False, False, False, False), "read_only"), (1, (True, True, False, False), "manage_own"),
    (2, (True, True, True, False), "manage_org"), (3, (True, True, True, True), "publish"),
    ("manage_org", (True, True, True, False), "manage_org"), ("bogus", (False,) * 4, "read_only"),
])
async def test_permission_level_drives_the_event_flags(sandbox_http: httpx.AsyncClient, level: object,
                                                       flags: tuple[bool, ...], description: str) -> None:
    # explicit flags that contradict the level lose (roles--permission-levels)
    role = await add_role(sandbox_http, name=f"Level {level}", permission=level, perm_publish=True, perm_add=False)
    assert tuple(role[f] for f in EVENT_FLAGS) == flags
    assert role["permission_description"] == description


async def test_edit_without_permission_resets_to_read_only(sandbox_http: httpx.AsyncClient) -> None:
    role = await add_role(sandbox_http, name="Publisher 2", permission=3, perm_tagger=True)
    edited = (await sandbox_http.post(f"/admin/roles/edit/{role['id']}", json={"perm_sighting": True})).json()["Role"]
    assert edited["permission"] == "0" and not any(edited[f] for f in EVENT_FLAGS)
    assert edited["perm_tagger"] is True and edited["perm_sighting"] is True  # other flags are kept


async def test_name_is_required_and_unique(sandbox_http: httpx.AsyncClient) -> None:
    duplicate = await sandbox_http.post("/admin/roles/add", json={"name": "User"})
    assert duplicate.status_code == 403
    assert duplicate.json()["errors"] == {"name": ["A role with this name already exists."]}
    empty = await sandbox_http.post("/admin/roles/add", json={"name": ""})
    assert empty.json()["errors"] == {"name": ["Name cannot be empty."]}
    missing = await sandbox_http.post("/admin/roles/add", json={"permission": 1})
    assert missing.status_code == 500  # recorded: MISP fails hard on a body without name


async def test_assigned_role_cannot_be_deleted(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    refused = await sandbox_http.post("/admin/roles/delete/1", json={})
    assert refused.status_code == 403
    assert refused.json()["errors"] == "It is not possible to delete role that is assigned to users."
    role = await add_role(sandbox_http, name="Temporary")
    done = await sandbox_http.post(f"/admin/roles/delete/{role['id']}", json={})
    assert done.json()["message"] == "Role deleted."
    assert (await sandbox_http.get(f"/roles/view/{role['id']}")).status_code == 404
    with sandbox_app.state.store.transaction():
        actions = [r["action"] for r in sandbox_app.state.store.find("logs", model="Role")]
    assert actions == ["add", "delete"]


async def test_set_default_changes_what_new_users_get(sandbox_http: httpx.AsyncClient) -> None:
    answer = await sandbox_http.post("/admin/roles/set_default/6", json={})
    assert answer.json()["message"] == "Default role set."
    roles = [r["Role"] for r in (await sandbox_http.get("/roles/index")).json()]
    assert [r["id"] for r in roles if r["default"]] == ["6"]
    user = (await sandbox_http.post("/admin/users/add", json={"email": "d@example.org", "org_id": "1"})).json()
    assert user["User"]["role_id"] == "6"
    missing = await sandbox_http.post("/admin/roles/set_default/999", json={})
    assert missing.status_code == 403


async def test_only_site_admins_manage_roles(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    user = (await sandbox_http.post("/admin/users/add", json={"email": "u@example.org", "org_id": "1",
                                                              "role_id": "3"})).json()["User"]
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080", headers={
            "Authorization": user["authkey"], "Accept": "application/json"}) as plain:
        assert (await plain.get("/roles/index")).status_code == 200
        refused = await plain.post("/admin/roles/add", json={"name": "Mine"})
    assert refused.status_code == 403

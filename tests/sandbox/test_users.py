"""Users in the sandbox behave as recorded (transcripts users--*, auth--org-admin-refusals)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.http import verify_password


async def add_user(http: httpx.AsyncClient, email: str, org_id: str = "1", role_id: str = "3",
                   **fields: object) -> dict[str, object]:
    response = await http.post("/admin/users/add", json={"email": email, "org_id": org_id, "role_id": role_id,
                                                         **fields})
    assert response.status_code == 200, response.text
    user: dict[str, object] = response.json()["User"]
    return user


def as_key(app: SandboxApp, key: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080",
                             headers={"Authorization": str(key), "Accept": "application/json"})


async def test_add_answers_the_key_once_and_the_key_works(sandbox_app: SandboxApp,
                                                          sandbox_http: httpx.AsyncClient) -> None:
    user = await add_user(sandbox_http, "new@example.org")
    assert user["password"] == "******" and user["change_pw"] is True and user["autoalert"] is False
    assert isinstance(user["nids_sid"], str) and len(str(user["authkey"])) == 40
    async with as_key(sandbox_app, user["authkey"]) as own:
        me = (await own.get("/users/view/me")).json()
    assert me["User"]["email"] == "new@example.org" and me["User"]["password"] == "*****"
    assert "authkey" not in me["User"] and me["Role"]["name"] == "User"
    view = (await sandbox_http.get(f"/admin/users/view/{user['id']}")).json()
    assert "authkey" not in view["User"]


async def test_every_writable_field_with_the_wrapper(sandbox_app: SandboxApp,
                                                     sandbox_http: httpx.AsyncClient) -> None:
    user = await add_user(sandbox_http, "full@example.org", password="Ref-Str0ng-Passw0rd!",
                          change_pw=False, notify=False, nids_sid=4000001, disabled=True, autoalert=True,
                          contactalert=True, termsaccepted=True, gpgkey="  not a pgp key  ")
    assert (user["nids_sid"], user["disabled"], user["autoalert"], user["contactalert"], user["termsaccepted"],
            user["change_pw"]) == ("4000001", True, True, True, True, False)
    assert user["gpgkey"] == "not a pgp key"  # trimmed, accepted: GnuPG is not configured (users--errors)
    with sandbox_app.state.store.transaction():
        stored = sandbox_app.state.store.get("users", int(str(user["id"])))
    assert stored is not None and verify_password("Ref-Str0ng-Passw0rd!", stored["password"])
    assert not verify_password("wrong", stored["password"]) and "Passw0rd" not in stored["password"]
    wrapped = await sandbox_http.post("/admin/users/add", json={"User": {"email": "w@example.org", "org_id": "1",
                                                                         "role_id": "3"}})
    assert wrapped.json()["User"]["email"] == "w@example.org"


async def test_disabled_user_key_is_refused(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    user = await add_user(sandbox_http, "off@example.org", disabled=True)
    async with as_key(sandbox_app, user["authkey"]) as off:
        refused = await off.get("/users/view/me")
    assert refused.status_code == 403
    assert refused.json() == {"name": "Authentication failed. Your user account has been disabled.",
                              "message": "Authentication failed. Your user account has been disabled.",
                              "url": "/users/view/me"}


@pytest.mark.parametrize(("fields", "errors"), [
    ({"email": "admin@admin.test"}, {"email": ["An account with this email address already exists."]}),
    ({"email": "ADMIN@ADMIN.TEST"}, {"email": ["An account with this email address already exists."]}),
    ({"email": None}, {"email": "Mandatory field not set."}),
    ({"email": "not-an-email"}, {"email": ["Please enter a valid email address."]}),
    ({"password": "Sh0rt!"}, {"password": ["Password length requirement not met."]}),
    ({"password": "alllowercase"}, {"password": ["Password complexity requirement not met."]}),
    ({"org_id": "999999"}, ["Invalid organisation"]),
    ({"org_id": "abc"}, ["Invalid organisation"]),
])
async def test_add_refusals(sandbox_http: httpx.AsyncClient, fields: dict[str, object], errors: object) -> None:
    body: dict[str, object] = {"email": "x@example.org", "org_id": "1", "role_id": "3", **fields}
    response = await sandbox_http.post("/admin/users/add", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 403
    assert response.json()["errors"] == errors


async def test_unknown_role_on_add_is_405_but_saved_on_edit(sandbox_http: httpx.AsyncClient) -> None:
    refused = await sandbox_http.post("/admin/users/add", json={"email": "r@example.org", "org_id": "1",
                                                                "role_id": "999999"})
    assert refused.status_code == 405 and refused.json()["message"] == "Invalid role"
    user = await add_user(sandbox_http, "r@example.org")
    edited = await sandbox_http.post(f"/admin/users/edit/{user['id']}", json={"role_id": "999999"})
    assert edited.json()["User"]["role_id"] == "999999"  # MISP saves it as sent (users--errors step 16)
    view = (await sandbox_http.get(f"/admin/users/view/{user['id']}")).json()
    assert view["Role"]["id"] is None and view["Role"]["permission"] == "0"


async def test_edit_errors_echo_the_id(sandbox_http: httpx.AsyncClient) -> None:
    user = await add_user(sandbox_http, "e@example.org")
    response = await sandbox_http.post(f"/admin/users/edit/{user['id']}", json={"password": "weak"})
    assert response.status_code == 403
    assert response.json()["id"] == user["id"] and response.json()["url"] == f"/admin/users/edit/{user['id']}"


async def test_org_admin_is_confined_to_its_org(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    own = (await sandbox_http.post("/admin/organisations/add", json={"name": "Own"})).json()["Organisation"]
    other = (await sandbox_http.post("/admin/organisations/add", json={"name": "Other"})).json()["Organisation"]
    admin = await add_user(sandbox_http, "oa@own.example", str(own["id"]), "2")
    member = await add_user(sandbox_http, "m@own.example", str(own["id"]))
    async with as_key(sandbox_app, admin["authkey"]) as org_admin:
        listed = {u["User"]["email"] for u in (await org_admin.get("/admin/users")).json()}
        assert listed == {"oa@own.example", "m@own.example"}
        assert (await org_admin.get("/admin/users/view/1")).status_code == 404
        assert (await org_admin.post("/admin/users/edit/1", json={"autoalert": True})).status_code == 404
        assert (await org_admin.post("/admin/users/delete/1", json={})).status_code == 404
        moved = await org_admin.post("/admin/users/add", json={"email": "x@own.example", "org_id": other["id"],
                                                               "role_id": "3"})
        assert moved.json()["User"]["org_id"] == own["id"]  # the org_id given is overridden
        for response in (await org_admin.post("/admin/users/add", json={"email": "sa@own.example",
                                                                        "org_id": own["id"], "role_id": "1"}),
                         await org_admin.post(f"/admin/users/edit/{member['id']}", json={"role_id": "1"})):
            assert response.status_code == 500  # site-admin role refused as recorded
        view = (await org_admin.get(f"/admin/users/view/{member['id']}")).json()
    assert list(view["User"]["orgAdmins"].values()) == ["oa@own.example"]


async def test_delete_and_view_after(sandbox_http: httpx.AsyncClient) -> None:
    user = await add_user(sandbox_http, "bye@example.org")
    done = await sandbox_http.post(f"/admin/users/delete/{user['id']}", json={})
    assert done.json() == {"saved": True, "success": True, "name": "User deleted.", "message": "User deleted.",
                           "url": f"/admin/users/delete/{user['id']}", "id": user["id"]}
    assert (await sandbox_http.get(f"/admin/users/view/{user['id']}")).status_code == 404


async def test_listing_10000_users_is_fast(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    with sandbox_app.state.store.transaction():
        for n in range(10_000):
            sandbox_app.state.store.insert("users", {
                "email": f"bulk{n}@example.org", "org_id": 1, "role_id": 3, "password": "", "nids_sid": n,
                "gpgkey": "", "certif_public": "", "external_auth_key": "", "change_pw": 0, "autoalert": 0,
                "contactalert": 0, "disabled": 0, "termsaccepted": 0, "newsread": 0})
    listed = (await sandbox_http.get("/admin/users/index")).json()  # speed: bench/sandbox_bench.py
    assert len(listed) == 10_001 and listed[-1]["Organisation"]["name"] == "ORGNAME"


async def test_index_named_filters(sandbox_http: httpx.AsyncClient) -> None:
    org = (await sandbox_http.post("/admin/organisations/add", json={"name": "Filtered"})).json()["Organisation"]
    await add_user(sandbox_http, "a@f.example", str(org["id"]), "3")
    await add_user(sandbox_http, "b@f.example", str(org["id"]), "6", disabled=True)

    async def emails(path: str) -> set[str]:
        return {u["User"]["email"] for u in (await sandbox_http.get(f"/admin/users/index/{path}")).json()}

    assert await emails(f"searchorg:{org['id']}") == {"a@f.example", "b@f.example"}
    assert await emails("searchrole:3|6") == {"a@f.example", "b@f.example"}
    assert await emails("searchrole:!1") == {"a@f.example", "b@f.example"}
    assert await emails("searchdisabled:1") == {"b@f.example"}
    assert await emails("searchemail:a@f") == {"a@f.example"}
    assert await emails("value:filtered") == {"a@f.example", "b@f.example"}
    assert await emails("value:read only") == {"b@f.example"}


def test_fresh_install_admin_has_misps_default_password(sandbox_app: SandboxApp) -> None:
    with sandbox_app.state.store.transaction():
        admin = sandbox_app.state.store.get("users", 1)
    assert admin is not None and admin["change_pw"] == 1
    assert verify_password("admin", admin["password"]) and not verify_password("", admin["password"])

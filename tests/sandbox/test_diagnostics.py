"""Diagnostics (diagnostics--version-and-schema): version probes, instance uuid, schema and database checks."""

from __future__ import annotations

import httpx

from reconciler.sandbox.resources.instance import data_file


async def test_version_answers_get_and_post_alike(sandbox_http: httpx.AsyncClient) -> None:
    got = (await sandbox_http.get("/servers/getVersion")).json()
    posted = (await sandbox_http.post("/servers/getVersion", json={})).json()
    assert got == posted and got["version"] == "2.5.1" and got["perm_sync"] is True
    assert (await sandbox_http.get("/servers/getPyMISPVersion")).json() == {"version": "2.5.1"}


async def test_instance_uuid_is_stable_and_matches_get_version(sandbox_http: httpx.AsyncClient) -> None:
    uuid = (await sandbox_http.get("/servers/getInstanceUUID")).json()["uuid"]
    assert len(uuid) == 36
    assert (await sandbox_http.get("/servers/getVersion")).json()["uuid"] == uuid
    assert (await sandbox_http.get("/servers/getInstanceUUID")).json()["uuid"] == uuid


async def test_instance_uuid_needs_sync_permission(sandbox_http: httpx.AsyncClient) -> None:
    user = (await sandbox_http.post("/admin/users/add", json={"email": "u@x.test", "org_id": "1",
                                                              "role_id": "3"})).json()["User"]
    key = (await sandbox_http.post(f"/auth_keys/add/{user['id']}", json={})).json()["AuthKey"]["authkey_raw"]
    assert (await sandbox_http.get("/servers/getInstanceUUID", headers={"Authorization": key})).status_code == 403
    assert (await sandbox_http.get("/servers/getVersion", headers={"Authorization": key})).json()["uuid"] == "-"


async def test_schema_diagnostic_reports_a_clean_schema_at_level_130(sandbox_http: httpx.AsyncClient) -> None:
    body = (await sandbox_http.get("/servers/dbSchemaDiagnostic")).json()
    assert body["actual_db_version"] == body["expected_db_version"] == "130"
    assert body["diagnostic"] == [] and body["diagnostic_index"] == [] and body["error"] == ""
    assert body["indexes"]["auth_keys"]["id"] is True
    assert body["columnPerTable"]["servers"][:3] == ["id", "name", "url"]
    assert set(body["columnPerTable"]) == set(data_file("db_schema.json")["schema"])


async def test_db_configuration_and_update_progress(sandbox_http: httpx.AsyncClient) -> None:
    config = (await sandbox_http.get("/servers/dbConfiguration")).json()
    assert [c["name"] for c in config][:2] == ["innodb_buffer_pool_size", "innodb_change_buffering"]
    assert all(set(c) == {"name", "value", "default", "recommended", "explanation"} for c in config)
    progress = (await sandbox_http.get("/servers/updateProgress")).json()
    assert progress["db_version"] == "130" and progress["update_locked"] is False


async def test_diagnostics_are_site_admin_only(sandbox_http: httpx.AsyncClient) -> None:
    user = (await sandbox_http.post("/admin/users/add", json={"email": "oa@x.test", "org_id": "1",
                                                              "role_id": "2"})).json()["User"]
    key = (await sandbox_http.post(f"/auth_keys/add/{user['id']}", json={})).json()["AuthKey"]["authkey_raw"]
    for path in ("/servers/dbSchemaDiagnostic", "/servers/dbConfiguration", "/servers/updateProgress"):
        assert (await sandbox_http.get(path, headers={"Authorization": key})).status_code == 403, path

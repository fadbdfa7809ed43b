"""The sandbox's routing and authentication behave as MISP 2.5.1 (transcript auth--no-or-invalid-key)."""

from __future__ import annotations

import httpx

from reconciler.sandbox import DEFAULT_ADMIN_KEY


async def test_get_version_answers_like_misp(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.get("/servers/getVersion")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert body["version"] == "2.5.1"
    assert body["perm_sync"] is True


async def test_unknown_key_is_refused_with_misp_message(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.get("/servers/getVersion", headers={"Authorization": "x" * 40})
    assert response.status_code == 403
    assert response.json()["message"].startswith("Authentication failed. Please make sure")


async def test_no_json_accept_redirects_to_login(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.get("/servers/getVersion", headers={"Accept": "*/*"})
    assert response.status_code == 302
    assert response.headers["location"].endswith("/users/login")


async def test_json_extension_counts_as_api_call(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.get("/servers/getVersion.json", headers={"Accept": "*/*"})
    assert response.status_code == 200


async def test_first_valid_key_of_a_list_is_used(sandbox_http: httpx.AsyncClient) -> None:
    header = f"{'y' * 40},{DEFAULT_ADMIN_KEY}"
    response = await sandbox_http.get("/servers/getVersion", headers={"Authorization": header})
    assert response.status_code == 200

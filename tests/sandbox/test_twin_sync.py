"""Twin-to-twin sync: a server link's connection test really calls the remote sandbox, over uvicorn ports and
in-process (link_remote), and reports MISP's status codes (reference misp-sync-ops-api.md 1.6)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxApp, create_app
from reconciler.sandbox.resources.servers import link_remote
from tests.conftest import ADMIN_HEADERS

Serve = Callable[..., tuple[str, str, SandboxApp]]


async def add_link(http: httpx.AsyncClient, url: str, key: str) -> str:
    answer = await http.post("/servers/add", json={"name": "partner", "url": url, "authkey": key,
                                                   "remote_org_id": "1", "pull": True})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["Server"]["id"])


async def remote_user_key(http: httpx.AsyncClient, role_id: str) -> str:
    """A user of the given role on the remote, and a fresh key of theirs."""
    user = (await http.post("/admin/users/add", json={"email": f"sync{role_id}@remote.test", "org_id": "1",
                                                      "role_id": role_id})).json()["User"]
    key = (await http.post(f"/auth_keys/add/{user['id']}", json={})).json()["AuthKey"]
    return str(key["authkey_raw"])


def remote_uuid(app: SandboxApp) -> str:
    with app.state.store.transaction():
        row = app.state.store.first("sandbox_settings", name="MISP.uuid")
    assert row is not None
    return str(row["value"]).strip('"')


async def test_connection_over_real_ports_reports_the_remote(serve_sandbox: Serve) -> None:
    local_url, local_key, _ = serve_sandbox()
    remote_url, remote_key, remote_app = serve_sandbox()
    headers = {**ADMIN_HEADERS, "Authorization": local_key}
    async with httpx.AsyncClient(base_url=local_url, headers=headers) as local:
        server_id = await add_link(local, remote_url, remote_key)
        result = (await local.post(f"/servers/testConnection/{server_id}")).json()
    assert result["status"] == 1
    assert result["version"] == result["local_version"] == "2.5.1"
    assert result["mismatch"] is False and result["newer"] is False
    assert result["post"] == 1
    assert result["uuid"] == remote_uuid(remote_app)


async def test_wrong_key_is_status_4_and_logged(serve_sandbox: Serve) -> None:
    local_url, local_key, local_app = serve_sandbox()
    remote_url, _, _ = serve_sandbox()
    async with httpx.AsyncClient(base_url=local_url, headers={**ADMIN_HEADERS, "Authorization": local_key}) as local:
        server_id = await add_link(local, remote_url, "x" * 40)
        result = (await local.get(f"/servers/testConnection/{server_id}")).json()
    assert result == {"status": 4, "client_certificate": None}
    with local_app.state.store.transaction():
        assert local_app.state.store.find("logs", model="Server", action="error")


async def test_unreachable_remote_is_status_2(sandbox_http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server_id = await add_link(sandbox_http, f"http://127.0.0.1:{port}", "a" * 40)
    result = (await sandbox_http.post(f"/servers/testConnection/{server_id}")).json()
    assert result["status"] == 2


@pytest.mark.parametrize(("role_id", "status"), [("6", 7), ("3", 8), ("5", 1)])
async def test_in_process_fleet_without_ports(role_id: str, status: int) -> None:
    """Roles of the fresh install: 6 Read Only (neither sync nor sighting) → 7, pull only; 3 User (sighting,
    no sync) → 8; 5 Sync user → 1."""
    local, remote = create_app(), create_app()
    link_remote(local, "https://remote.example", remote)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=remote), base_url="https://remote.example",
                                 headers=ADMIN_HEADERS) as remote_http:
        key = await remote_user_key(remote_http, role_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=local), base_url="http://local",
                                 headers=ADMIN_HEADERS) as local_http:
        server_id = await add_link(local_http, "https://remote.example", key)
        result: dict[str, Any] = (await local_http.post(f"/servers/testConnection/{server_id}")).json()
    assert result["status"] == status
    assert result["version"] == "2.5.1"


async def test_remote_answering_garbage_is_status_3(sandbox_app: SandboxApp,
                                                    sandbox_http: httpx.AsyncClient) -> None:
    async def not_misp(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>hello</html>"})

    link_remote(sandbox_app, "https://web.example", not_misp)
    server_id = await add_link(sandbox_http, "https://web.example", "b" * 40)
    assert (await sandbox_http.post(f"/servers/testConnection/{server_id}")).json()["status"] == 3


async def test_missing_server_is_404(sandbox_http: httpx.AsyncClient) -> None:
    answer = await sandbox_http.post("/servers/testConnection/999")
    assert answer.status_code == 404 and answer.json()["message"] == "Invalid server"


async def test_post_test_echoes_body_and_headers(sandbox_http: httpx.AsyncClient) -> None:
    answer = (await sandbox_http.post("/servers/postTest", json={"testString": "abc"})).json()
    assert answer == {"body": {"testString": "abc"}, "headers": {
        "Content-type": "application/json", "Accept": "application/json", "Authorization": "OK"}}


async def test_get_remote_user_asks_the_remote_who_the_key_is() -> None:
    local, remote = create_app(), create_app()
    link_remote(local, "https://remote.example", remote)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=remote), base_url="https://remote.example",
                                 headers=ADMIN_HEADERS) as remote_http:
        key = await remote_user_key(remote_http, "5")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=local), base_url="http://local",
                                 headers=ADMIN_HEADERS) as local_http:
        server_id = await add_link(local_http, "https://remote.example", key)
        answer = (await local_http.get(f"/servers/getRemoteUser/{server_id}")).json()
        wrong_id = await add_link(local_http, "https://remote.example", "c" * 40)
        refused = (await local_http.get(f"/servers/getRemoteUser/{wrong_id}")).json()
    assert answer == {"User": "sync5@remote.test", "Role name": "Sync user", "Sync flag": "Yes"}
    assert refused == {"error": 403}


async def test_links_beyond_this_machine_are_never_contacted(sandbox_http: httpx.AsyncClient) -> None:
    """A sandbox must not reach a real MISP: anything but loopback or a linked twin is 'unreachable' at once."""
    server_id = await add_link(sandbox_http, "https://misp.partner.example", "d" * 40)
    assert (await sandbox_http.post(f"/servers/testConnection/{server_id}")).json()["status"] == 2
    assert (await sandbox_http.get(f"/servers/getRemoteUser/{server_id}")).json() == {"error": "ConnectError"}

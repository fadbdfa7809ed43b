"""Fault injection: dropped connections are transport errors in-process and over uvicorn, injected failures
leave the database untouched, faults change on a live app, and bad options are refused."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from reconciler.sandbox import FaultRule, Faults, SandboxApp
from reconciler.sandbox.faults import parse_latency, rule_from_options
from tests.conftest import ADMIN_HEADERS

Serve = Callable[..., tuple[str, str, SandboxApp]]
NEW_ORG = {"name": "Fault Org"}


def org_count(app: SandboxApp) -> int:
    with app.state.store.transaction():
        return app.state.store.count("organisations")


async def test_drop_before_is_a_transport_error_in_process_and_nothing_is_written(
        sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    before = org_count(sandbox_app)
    sandbox_app.state.faults = Faults([FaultRule(path="/admin/organisations/add", drop_rate=1.0)])
    with pytest.raises(httpx.TransportError):
        await sandbox_http.post("/admin/organisations/add", json=NEW_ORG)
    assert org_count(sandbox_app) == before


async def test_drop_after_loses_the_answer_but_the_write_happened(
        sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    before = org_count(sandbox_app)
    sandbox_app.state.faults = Faults([FaultRule(methods=frozenset({"POST"}), drop_rate=1.0, drop_after=True)])
    with pytest.raises(httpx.TransportError):
        await sandbox_http.post("/admin/organisations/add", json=NEW_ORG)
    assert org_count(sandbox_app) == before + 1
    assert sandbox_app.state.faults.injected["dropped"] == 1


async def test_dropped_connection_over_uvicorn_is_a_transport_error(serve_sandbox: Serve) -> None:
    url, key, app = serve_sandbox()
    app.state.faults = Faults([FaultRule(path="getVersion", drop_rate=1.0)])
    async with httpx.AsyncClient(base_url=url, headers={**ADMIN_HEADERS, "Authorization": key}) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("/servers/getVersion")
        # Other paths are untouched, and the server is still up after the drop.
        assert (await client.get("/servers/index")).status_code == 200
        app.state.faults = Faults()  # switched off on the live app
        assert (await client.get("/servers/getVersion")).json()["version"] == "2.5.1"


async def test_injected_failure_answers_the_status_and_writes_nothing(
        sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    before = org_count(sandbox_app)
    sandbox_app.state.faults = Faults([FaultRule(methods=frozenset({"POST"}), fail_rate=1.0,
                                                 statuses=(502,))])
    answer = await sandbox_http.post("/admin/organisations/add", json=NEW_ORG)
    assert answer.status_code == 502
    assert answer.json()["message"] == "An Internal Error Has Occurred."
    assert org_count(sandbox_app) == before
    assert (await sandbox_http.get("/servers/getVersion")).status_code == 200  # GET not matched


async def test_latency_is_added(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    sandbox_app.state.faults = Faults([FaultRule(path="getVersion", latency=(0.2, 0.2))])
    start = time.perf_counter()
    await sandbox_http.get("/servers/getVersion")
    assert time.perf_counter() - start >= 0.2


async def test_fail_rate_is_a_share_of_requests(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    sandbox_app.state.faults = Faults([FaultRule(path="getVersion", fail_rate=0.5, statuses=(503, 429))], seed=7)
    statuses = [(await sandbox_http.get("/servers/getVersion")).status_code for _ in range(200)]
    failed = [s for s in statuses if s != 200]
    assert 60 < len(failed) < 140
    assert set(failed) == {503, 429}
    assert sandbox_app.state.faults.injected == {"failed": len(failed)}


def test_latency_parsing() -> None:
    assert parse_latency("20ms") == (0.02, 0.02)
    assert parse_latency("10ms-50ms") == (0.01, 0.05)
    assert parse_latency("1s") == (1.0, 1.0)
    assert parse_latency("5") == (0.005, 0.005)
    for bad in ("fast", "50ms-10ms", "-5ms", "10ms-"):
        with pytest.raises(ValueError):
            parse_latency(bad)


def test_rule_from_options() -> None:
    assert rule_from_options() is None
    rule = rule_from_options(latency="10ms-50ms", fail_rate=0.1, fail_statuses=[500, 503], path="users",
                             methods=["post"])
    assert rule is not None
    assert rule.latency == (0.01, 0.05) and rule.statuses == (500, 503) and rule.methods == frozenset({"POST"})
    assert rule.matches("POST", "/admin/users/add") and not rule.matches("GET", "/admin/users/index")
    for bad in ({"fail_rate": 1.5}, {"drop_rate": -0.1}, {"fail_rate": 0.5, "fail_statuses": [200]},
                {"drop_rate": 0.5, "path": "("}):
        with pytest.raises(ValueError):
            rule_from_options(**bad)

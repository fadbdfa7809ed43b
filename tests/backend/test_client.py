"""MispClient against the sandbox over real HTTP (ASGI transport), with the sandbox's fault injection."""

from __future__ import annotations

import httpx
import pytest

from reconciler.backend.client import USER_AGENT, MispClient, RequestRecord
from reconciler.backend.errors import OutcomeUnknown, Refused, Rejected, Unreachable
from reconciler.sandbox import DEFAULT_ADMIN_KEY, FaultRule, Faults, create_app
from tests.canaries import CANARIES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def client_for(app: object, key: str = DEFAULT_ADMIN_KEY, records: list[RequestRecord] | None = None) -> MispClient:
    on_request = records.append if records is not None else None
    return MispClient("http://sandbox", key, transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                      on_request=on_request)


async def test_get_sends_identity_headers_and_a_fresh_request_id() -> None:
    seen: list[httpx.Request] = []
    app = create_app()

    async def spy(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(httpx.Request("GET", "http://x", headers=[(k.decode(), v.decode()) for k, v in scope["headers"]]))
        await app(scope, receive, send)  # type: ignore[arg-type]

    async with client_for(spy) as client:
        await client.get("/servers/getVersion")
        await client.get("/servers/getVersion")
    assert [r.headers["user-agent"] for r in seen] == [USER_AGENT, USER_AGENT]
    assert seen[0].headers["accept"] == "application/json"
    ids = {r.headers["x-request-id"] for r in seen}
    assert len(ids) == 2


async def test_wrong_key_is_refused() -> None:
    async with client_for(create_app(), key=CANARIES.get("wrong-misp-key", key=True)) as client:
        with pytest.raises(Refused, match="refused the API key"):
            await client.get("/servers/getVersion")


async def test_reads_are_retried_on_503_until_they_succeed() -> None:
    faults = Faults([FaultRule(path="getVersion", fail_rate=1.0, statuses=(503,))], seed=1)
    app = create_app(faults=faults)
    records: list[RequestRecord] = []
    async with client_for(app, records=records) as client:
        with pytest.raises(Rejected):
            await client.get("/servers/getVersion")
    assert [r.status for r in records] == [503, 503, 503, 503]  # MAX_ATTEMPTS, then give up


async def test_writes_are_not_retried_on_503() -> None:
    faults = Faults([FaultRule(path="nothing-here", fail_rate=1.0, statuses=(503,)),
                     FaultRule(path=".*", methods=frozenset({"POST"}), fail_rate=1.0, statuses=(503,))])
    records: list[RequestRecord] = []
    async with client_for(create_app(faults=faults), records=records) as client:
        with pytest.raises(Rejected):
            await client.post("/servers/getVersion", {})
    assert len(records) == 1


async def test_a_dropped_write_is_outcome_unknown_never_resent() -> None:
    faults = Faults([FaultRule(path=".*", methods=frozenset({"POST"}), drop_rate=1.0)])
    records: list[RequestRecord] = []
    async with client_for(create_app(faults=faults), records=records) as client:
        with pytest.raises(OutcomeUnknown):
            await client.post("/servers/getVersion", {})
    assert len(records) == 1


async def test_a_dropped_read_is_retried_then_unreachable() -> None:
    faults = Faults([FaultRule(path=".*", drop_rate=1.0)])
    records: list[RequestRecord] = []
    async with client_for(create_app(faults=faults), records=records) as client:
        with pytest.raises(Unreachable):
            await client.get("/servers/getVersion")
    assert len(records) == 4


async def test_nothing_listening_is_unreachable() -> None:
    async with MispClient("http://127.0.0.1:9", DEFAULT_ADMIN_KEY) as client:
        with pytest.raises(Unreachable, match="cannot reach MISP"):
            await client.get("/servers/getVersion")


def test_repr_never_shows_the_key() -> None:
    client = MispClient("http://x", DEFAULT_ADMIN_KEY)
    assert DEFAULT_ADMIN_KEY not in repr(client)

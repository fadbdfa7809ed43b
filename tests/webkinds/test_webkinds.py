"""allowedlist and regexps through MISP's web pages, end to end against the sandbox over HTTP: the web
session logs in with CSRF tokens, reads the HTML indexes, writes through forms and the API."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from reconciler.backend.errors import Refused
from reconciler.backend.web import WebLoginMissing
from reconciler.engine.targets import sandbox_db_url
from reconciler.sandbox import create_app
from tests.canaries import CANARIES
from tests.engine.helpers import Workspace

ROOT = Path(__file__).parents[2]
BASE = "http://sandbox"

ALLOWED = """
allowedlist:
  - /^10\\.0\\.0\\./
  - /example\\.org$/i
  - '#keep\\.me#'
"""

REGEXPS = """
regexps:
  - {regexp: '/a/', replacement: 'A'}
  - {regexp: '/b/', replacement: 'B', type: ALL}
  - {regexp: '/c/', replacement: 'C'}
"""


def summary(ws: Workspace, kinds: tuple[str, ...] = ("allowedlist", "regexps")) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.kind, c.key) for c in ws.plan().plan.actionable if c.kind in kinds]


def applied_ok(ws: Workspace) -> None:
    applied = ws.apply()
    assert applied.result is not None, "nothing applied"
    assert applied.result.ok, [(o.change.address, o.error) for o in applied.result.outcomes if o.status != "ok"]


async def browser(ws: Workspace) -> tuple[httpx.AsyncClient, Any]:
    app = create_app(sandbox_db_url(ws.state_dir, "sandbox"))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    tree = LexborHTMLParser((await client.get("/users/login")).text)
    form = tree.css_first("#UserLoginForm")
    assert form is not None
    fields = {n.attributes["name"] or "": n.attributes.get("value") or "" for n in form.css("input")
              if n.attributes.get("name")}
    fields.update({"data[User][email]": "admin@admin.test", "data[User][password]": "admin"})
    assert (await client.post("/users/login", data=fields)).status_code == 302
    return client, app


def allowedlist_rows(ws: Workspace) -> list[str]:
    async def read() -> list[str]:
        client, _ = await browser(ws)
        try:
            tree = LexborHTMLParser((await client.get("/admin/allowedlists/index")).text)
        finally:
            await client.aclose()
        return [tr.css("td")[1].text(strip=True) for tr in tree.css("div.allowedlists table tr")[1:]]
    return asyncio.run(read())


def regexp_rows(ws: Workspace) -> list[tuple[int, str, str, str]]:
    async def read() -> list[tuple[int, str, str, str]]:
        client, _ = await browser(ws)
        try:
            tree = LexborHTMLParser((await client.get("/admin/regexp/index")).text)
        finally:
            await client.aclose()
        return [(int(c[0].text()), c[1].text(), c[2].text(), c[3].text())
                for c in (tr.css("td") for tr in tree.css("div.regexp tr")[1:])]
    return asyncio.run(read())


def add_by_hand(ws: Workspace, name: str) -> None:
    async def add() -> None:
        client, _ = await browser(ws)
        try:
            tree = LexborHTMLParser((await client.get("/admin/allowedlists/add")).text)
            form = tree.css_first("form")
            assert form is not None
            fields = {n.attributes["name"] or "": n.attributes.get("value") or "" for n in form.css("input")
                      if n.attributes.get("name")}
            fields["data[Allowedlist][name]"] = name
            assert (await client.post(form.attributes["action"] or "", data=fields)).status_code == 302
        finally:
            await client.aclose()
    asyncio.run(add())


async def api_add_regexp(ws: Workspace, regexp: str, replacement: str) -> None:
    async with ws.misp() as misp:
        response = await misp.post("/admin/regexp/add", json={"Regexp": {"regexp": regexp,
                                                                         "replacement": replacement, "all": 1}})
        assert response.status_code == 302


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_training_example_allowedlist_and_regexps_converge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISP_TRAINING_HUB_KEY", CANARIES.get("training-hub-key", key=True))
    ws = Workspace(tmp_path)
    shutil.copytree(ROOT / "examples" / "training", ws.manifests)
    planned = summary(ws)
    assert [a for a, k, _ in planned if k == "allowedlist"] == ["create", "create"]
    assert [a for a, k, _ in planned if k == "regexps"] == ["create", "create"]
    applied = ws.apply()
    assert applied.result is not None
    mine = [o for o in applied.result.outcomes if o.change.kind in ("allowedlist", "regexps")]
    assert len(mine) == 4 and all(o.status == "ok" for o in mine), [o.error for o in mine]
    assert summary(ws) == []
    state = Workspace(tmp_path)
    app = create_app(sandbox_db_url(state.state_dir, "training"))
    store = app.state.store
    with store.transaction():
        assert sorted(r["name"] for r in store.all("allowedlist")) == ["/^10\\.0\\.0\\./",
                                                                      "/training\\.example\\.org$/i"]
        assert [r["regexp"] for r in store.all("regexp")] == ["/.:.ProgramData./i",
                                                              "/.:.Users.[^\\\\]+.AppData.Roaming./i"]


def test_allowedlist_apply_then_empty_plan_and_removed_entry_is_deleted(ws: Workspace) -> None:
    ws.write("web.yaml", ALLOWED)
    assert sorted(summary(ws)) == [("create", "allowedlist", "#keep\\.me#"),
                                   ("create", "allowedlist", "/^10\\.0\\.0\\./"),
                                   ("create", "allowedlist", "/example\\.org$/i")]
    applied_ok(ws)
    assert sorted(allowedlist_rows(ws)) == sorted(["/^10\\.0\\.0\\./", "/example\\.org$/i", "#keep\\.me#"])
    assert summary(ws) == []
    add_by_hand(ws, "/by-hand/")  # not ours: left alone
    ws.write("web.yaml", ALLOWED.replace("  - /example\\.org$/i\n", ""))
    assert summary(ws) == [("delete", "allowedlist", "/example\\.org$/i")]
    applied_ok(ws)
    assert sorted(allowedlist_rows(ws)) == sorted(["/^10\\.0\\.0\\./", "#keep\\.me#", "/by-hand/"])
    assert summary(ws) == []


def test_allowedlist_reads_every_page(ws: Workspace) -> None:
    from reconciler.sandbox.resources.allowedlist import PAGE_SIZE

    app = create_app(sandbox_db_url(ws.state_dir, "sandbox"))
    store = app.state.store
    with store.transaction():
        store.insert_many("allowedlist", [{"name": f"/e{i}/"} for i in range(PAGE_SIZE + 3)])
    last = f"/e{PAGE_SIZE + 2}/"
    ws.write("web.yaml", f"allowedlist:\n  - {last}\n  - /new/\n")
    # the entry on page 2 is found (adopted), the new one created
    assert sorted(summary(ws)) == [("adopt", "allowedlist", last), ("create", "allowedlist", "/new/")]
    applied_ok(ws)
    assert summary(ws) == []
    ws.write("web.yaml", f"allowedlist:\n  - {last}\n")
    assert summary(ws) == [("delete", "allowedlist", "/new/")]  # on page 2: found and deleted there
    applied_ok(ws)
    assert "/new/" not in allowedlist_rows(ws) and summary(ws) == []


def test_regexps_apply_in_order_and_plan_empty(ws: Workspace) -> None:
    ws.write("web.yaml", REGEXPS)
    assert summary(ws) == [("create", "regexps", "/a//A/ALL"), ("create", "regexps", "/b//B/ALL"),
                           ("create", "regexps", "/c//C/ALL")]
    applied_ok(ws)
    assert [(r, p) for _, r, p, _ in regexp_rows(ws)] == [("/a/", "A"), ("/b/", "B"), ("/c/", "C")]
    assert summary(ws) == []


def test_regexps_reordering_plans_deletes_and_creates_and_converges(ws: Workspace) -> None:
    ws.write("web.yaml", REGEXPS)
    applied_ok(ws)
    ids = {r: i for i, r, _, _ in regexp_rows(ws)}
    # c moves to the front: everything from the first difference is deleted and re-created in order
    ws.write("web.yaml", """
regexps:
  - {regexp: '/c/', replacement: 'C'}
  - {regexp: '/a/', replacement: 'A'}
  - {regexp: '/b/', replacement: 'B'}
""")
    assert sorted(summary(ws)) == sorted([
        ("create", "regexps", "/c//C/ALL"), ("create", "regexps", "/a//A/ALL"), ("create", "regexps", "/b//B/ALL"),
        ("delete", "regexps", f"/a//A/ALL (row {ids['/a/']})"), ("delete", "regexps", f"/b//B/ALL (row {ids['/b/']})"),
        ("delete", "regexps", f"/c//C/ALL (row {ids['/c/']})")])
    assert sum("out of the manifest's order" in note for note in ws.plan().plan.notes) == 3
    applied_ok(ws)
    assert [r for _, r, _, _ in regexp_rows(ws)] == ["/c/", "/a/", "/b/"]
    assert summary(ws) == []
    # a change in the middle keeps the prefix: only b and what follows are replaced
    ws.write("web.yaml", """
regexps:
  - {regexp: '/c/', replacement: 'C'}
  - {regexp: '/a/', replacement: 'A'}
  - {regexp: '/b/', replacement: 'B2'}
  - {regexp: '/d/', replacement: 'D'}
""")
    ids = {r: i for i, r, _, _ in regexp_rows(ws)}
    assert sorted(summary(ws)) == [("create", "regexps", "/b//B2/ALL"), ("create", "regexps", "/d//D/ALL"),
                                   ("delete", "regexps", "/b//B/ALL")]
    applied_ok(ws)
    rows = regexp_rows(ws)
    assert [(r, p) for _, r, p, _ in rows] == [("/c/", "C"), ("/a/", "A"), ("/b/", "B2"), ("/d/", "D")]
    assert [i for i, r, _, _ in rows][:2] == [ids["/c/"], ids["/a/"]]  # untouched
    assert summary(ws) == []


def test_regexp_added_by_hand_is_left_alone(ws: Workspace) -> None:
    ws.write("web.yaml", REGEXPS)
    applied_ok(ws)
    asyncio.run(api_add_regexp(ws, "/hand/", "H"))
    assert summary(ws) == []
    ws.write("web.yaml", """
regexps:
  - {regexp: '/b/', replacement: 'B'}
  - {regexp: '/a/', replacement: 'A'}
  - {regexp: '/c/', replacement: 'C'}
""")
    applied_ok(ws)
    assert summary(ws) == []
    assert [r for _, r, _, _ in regexp_rows(ws) if r != "/hand/"] == ["/b/", "/a/", "/c/"]
    assert "/hand/" in [r for _, r, _, _ in regexp_rows(ws)]


def test_regexps_serial_apply_still_creates_in_manifest_order(ws: Workspace) -> None:
    ws.write("web.yaml", """
regexps:
  - {regexp: '/z/', replacement: '1'}
  - {regexp: '/m/', replacement: '2'}
  - {regexp: '/a/', replacement: '3'}
""")
    applied = ws.apply(parallelism=1)
    assert applied.result is not None and applied.result.ok
    assert [r for _, r, _, _ in regexp_rows(ws)] == ["/z/", "/m/", "/a/"]
    assert summary(ws) == []


def test_real_misp_without_web_login_says_what_to_set(tmp_path: Path) -> None:
    """No instance.web_login on a real MISP: the web kinds refuse with the setting to add."""
    from reconciler.backend.client import MispClient
    from reconciler.backend.web import session_for

    client = MispClient("https://misp.example.org", CANARIES.get("real-misp-key", key=True))
    with pytest.raises(WebLoginMissing, match=r"instance\.web_login"):
        session_for(client, "allowedlist")
    assert issubclass(WebLoginMissing, Refused)
    asyncio.run(client.aclose())


def test_instance_web_login_is_used_and_a_wrong_password_is_a_clear_refusal(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.write("instance.yaml", """
instance:
  web_login: {email: admin@admin.test, password: {env: WEB_PW}}
""")
    ws.write("web.yaml", "allowedlist: [/via-login/]\n")
    wrong = CANARIES.get("wrong-web-password")
    monkeypatch.setenv("WEB_PW", wrong)
    with pytest.raises(Refused, match=r"refused the web login of admin@admin\.test") as refused:
        ws.plan()
    assert wrong not in str(refused.value)
    monkeypatch.setenv("WEB_PW", "admin")  # the sandbox's seeded admin password: public, like MISP's own
    applied_ok(ws)
    assert allowedlist_rows(ws) == ["/via-login/"]
    assert summary(ws) == []

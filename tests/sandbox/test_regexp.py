"""Import regexps over HTTP: MISP's bodiless redirects, 500 for views without JSON, edit re-creating rows."""

from __future__ import annotations

import httpx
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.resources.regexp import ATTRIBUTE_TYPES
from tests.sandbox.test_web import BASE, login

REDIRECT = "http://127.0.0.1:8080/regexp/admin_index"


def _rows(app: SandboxApp) -> list[dict[str, object]]:
    store = app.state.store
    with store.transaction():
        return store.all("regexp")


async def test_add_all_types_and_per_type_rows(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.post("/admin/regexp/add", json={
        "Regexp": {"regexp": "/a\\.example/i", "replacement": "b.example", "all": 1}})
    assert response.status_code == 302 and response.headers["location"] == REDIRECT and response.text == ""
    await sandbox_http.post("/admin/regexp/add", json={
        "Regexp": {"regexp": "/scoped/", "replacement": "x", "all": "0", "0": "1", "1": "0", "2": "1"}})
    assert [(r["regexp"], r["type"]) for r in _rows(sandbox_app)] == [
        ("/a\\.example/i", "ALL"), ("/scoped/", ATTRIBUTE_TYPES[0]), ("/scoped/", ATTRIBUTE_TYPES[2])]
    assert ATTRIBUTE_TYPES[:3] == ("md5", "sha1", "sha256")


async def test_edit_replaces_the_rule_with_new_rows(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    await sandbox_http.post("/admin/regexp/add", json={"Regexp": {"regexp": "/r/", "replacement": "1", "all": 1}})
    old_id = _rows(sandbox_app)[0]["id"]
    response = await sandbox_http.post(f"/admin/regexp/edit/{old_id}", json={
        "Regexp": {"regexp": "/r/", "replacement": "2", "all": 1}})
    assert response.status_code == 302
    rows = _rows(sandbox_app)
    assert [(r["replacement"], r["id"] != old_id) for r in rows] == [("2", True)]
    gone = await sandbox_http.get(f"/admin/regexp/edit/{old_id}")
    assert gone.status_code == 404 and gone.json()["name"] == "Invalid Regexp"
    form = await sandbox_http.get(f"/admin/regexp/edit/{rows[0]['id']}")
    assert form.status_code == 500


async def test_delete_then_delete_again(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    await sandbox_http.post("/admin/regexp/add", json={"Regexp": {"regexp": "/d/", "replacement": "", "all": 1}})
    row_id = _rows(sandbox_app)[0]["id"]
    assert (await sandbox_http.post(f"/admin/regexp/delete/{row_id}", json={})).status_code == 302
    again = await sandbox_http.post(f"/admin/regexp/delete/{row_id}", json={})
    assert again.status_code == 404 and again.json()["name"] == "Invalid regexp"
    logs = (await sandbox_http.get("/admin/logs/index/model:Regexp")).json()
    assert [r["Log"]["action"] for r in logs] == ["add", "delete"]


async def test_views_without_json_answer_500_and_bad_input_saves_nothing(
        sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    for path in ("/regexp/index", "/admin/regexp/index", "/admin/regexp/add"):
        response = await sandbox_http.get(path)
        assert response.status_code == 500, path
        assert response.json()["name"] == "An Internal Error Has Occurred."
    empty = await sandbox_http.post("/admin/regexp/add", json={"Regexp": {"regexp": "", "all": 1}})
    no_type = await sandbox_http.post("/admin/regexp/add", json={"Regexp": {"regexp": "/x/", "all": 0}})
    assert (empty.status_code, no_type.status_code) == (500, 500)
    assert _rows(sandbox_app) == []


async def test_the_browser_reads_the_rules_from_the_html_index(
        sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    await sandbox_http.post("/admin/regexp/add", json={"Regexp": {"regexp": "/<b>/", "replacement": "x", "all": 1}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE) as browser:
        assert (await browser.get("/admin/regexp/index")).status_code == 302  # no session yet
        await login(browser)
        page = (await browser.get("/admin/regexp/index")).text
    rows = [[td.text() for td in tr.css("td")][:4] for tr in HTMLParser(page).css("div.regexp tr")[1:]]
    assert rows == [[str(_rows(sandbox_app)[0]["id"]), "/<b>/", "x", "ALL"]]

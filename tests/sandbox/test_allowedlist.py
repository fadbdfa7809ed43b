"""Allowedlist over the web session: HTML index parsed as the reconciler parses it, forms with tokens,
MISP's name validation (a PHP regex between delimiters), logs, and the API key refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.resources.allowedlist import BAD_FORMAT, NOT_UNIQUE, PAGE_SIZE, valid_php_regex
from tests.sandbox.test_web import BASE, form_fields, login, text_of


@pytest.fixture
async def admin(sandbox_app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE) as client:
        assert (await login(client)).status_code == 302
        yield client


async def add(client: httpx.AsyncClient, name: str) -> httpx.Response:
    action, fields = form_fields((await client.get("/admin/allowedlists/add")).text)
    return await client.post(action, data={**fields, "data[Allowedlist][name]": name})


async def entries(client: httpx.AsyncClient, path: str = "/admin/allowedlists/index") -> list[tuple[str, str]]:
    tree = HTMLParser((await client.get(path)).text)
    rows = tree.css("div.allowedlists table tr")[1:]
    return [(row.css("td")[0].text(strip=True), row.css("td")[1].text(strip=True)) for row in rows]


async def test_add_edit_delete_through_the_forms(admin: httpx.AsyncClient) -> None:
    response = await add(admin, "/8\\.8\\.8\\.8/")
    assert response.status_code == 302 and response.headers["location"] == f"{BASE}/admin/allowedlists/index"
    [(entry_id, name)] = await entries(admin)
    assert name == "/8\\.8\\.8\\.8/"
    action, fields = form_fields((await admin.get(f"/admin/allowedlists/edit/{entry_id}")).text)
    assert fields["data[Allowedlist][name]"] == name
    await admin.post(action, data={**fields, "data[Allowedlist][name]": "#example\\.org#i"})
    assert await entries(admin) == [(entry_id, "#example\\.org#i")]
    page = HTMLParser((await admin.get("/admin/allowedlists/index")).text)
    delete_form = page.css_first(f'form[action="/admin/allowedlists/delete/{entry_id}"]')
    assert delete_form is not None and page.css_first(f'a[href="/admin/allowedlists/edit/{entry_id}"]')
    action, fields = form_fields(delete_form.html or "")
    assert (await admin.post(action, data=fields)).status_code == 302
    assert await entries(admin) == []
    logs = (await admin.get("/admin/logs/index/model:Allowedlist",
                            headers={"Authorization": "sandboxAdminKey0000000000000000000000000",
                                     "Accept": "application/json"})).json()
    assert [r["Log"]["action"] for r in logs] == ["add", "edit", "delete"]


@pytest.mark.parametrize(("name", "message"), [
    ("8.8.8.8", BAD_FORMAT), ("/unclosed", BAD_FORMAT), ("/(/", BAD_FORMAT), ("/x/q", BAD_FORMAT),
    ("   ", "valueNotEmpty")])
async def test_invalid_names_re_render_the_form_with_misp_messages(
        admin: httpx.AsyncClient, name: str, message: str) -> None:
    response = await add(admin, name)
    assert response.status_code == 200
    assert text_of(response.text, ".error-message") == message
    assert await entries(admin) == []


async def test_duplicate_name_is_refused(admin: httpx.AsyncClient) -> None:
    await add(admin, "/dup/")
    response = await add(admin, "/dup/")
    assert text_of(response.text, ".error-message") == NOT_UNIQUE


async def test_missing_entry_and_form_without_tokens(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/admin/allowedlists/edit/999")).status_code == 404
    forged = await admin.post("/admin/allowedlists/add", data={"data[Allowedlist][name]": "/x/"})
    assert forged.status_code == 400 and await entries(admin) == []


async def test_index_pages_like_cakephp(sandbox_app: SandboxApp, admin: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        store.insert_many("allowedlist", [{"name": f"/e{i}/"} for i in range(PAGE_SIZE + 5)])
    first = await entries(admin)
    second = await entries(admin, "/admin/allowedlists/index/page:2")
    assert len(first) == PAGE_SIZE and [n for _, n in second] == [f"/e{i}/" for i in range(PAGE_SIZE, PAGE_SIZE + 5)]
    text = text_of((await admin.get("/admin/allowedlists/index/page:2")).text, "p")
    assert text.startswith(f"Page 2 of 2, showing 5 records out of {PAGE_SIZE + 5} total")


async def test_a_logged_in_non_admin_is_refused(sandbox_app: SandboxApp, admin: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        user_role = store.first("roles", name="User")
        assert user_role is not None
        store.update("users", 1, {"role_id": user_role["id"]})
    assert (await admin.get("/admin/allowedlists/index")).status_code == 403


def test_php_regex_delimiters() -> None:
    assert valid_php_regex("/a/") and valid_php_regex("{a}i") and valid_php_regex("#a#ms")
    assert not valid_php_regex("a/") and not valid_php_regex("/") and not valid_php_regex("\\a\\")


async def test_every_form_of_a_page_shares_one_key_spent_by_the_first_use(
        sandbox_app: SandboxApp, admin: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        store.insert_many("allowedlist", [{"name": f"/e{i}/"} for i in range(PAGE_SIZE)])
    page = HTMLParser((await admin.get("/admin/allowedlists/index")).text)
    forms = [form_fields(node.html or "") for node in page.css("form")]
    assert len({fields["data[_Token][key]"] for _, fields in forms}) == 1
    first, last = forms[0], forms[-1]
    assert (await admin.post(last[0], data=last[1])).status_code == 302  # the last row's form works
    assert (await admin.post(first[0], data=first[1])).status_code == 400  # the key is spent
    assert len(await entries(admin)) == PAGE_SIZE - 1

"""Templates: MISP's odd API surface (500 for views, 400 black hole for writes) and the web-session path
that works (forms with tokens), template elements over AJAX, and template tags."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.resources.templates import AJAX_ONLY, BUILT_IN, NOT_VISIBLE
from tests.sandbox.test_web import BASE, login

AJAX = {"X-Requested-With": "XMLHttpRequest"}


@pytest.fixture
async def browser(sandbox_app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE) as client:
        assert (await login(client)).status_code == 302
        yield client


def form_of(page: str, selector: str) -> tuple[str, dict[str, str]]:
    """A form's action and what a browser would post: inputs (checkboxes when checked), textareas, selects."""
    form = HTMLParser(page).css_first(selector)
    assert form is not None, page
    fields: dict[str, str] = {}
    for node in form.css("input, textarea, select"):
        name = node.attributes.get("name") or ""
        if not name or (node.attributes.get("type") == "checkbox" and "checked" not in node.attributes):
            continue
        if node.tag == "textarea":
            fields[name] = node.text()
        elif node.tag == "select":
            option = node.css_first("option")
            fields[name] = (option.attributes.get("value") or "") if option is not None else ""
        else:
            fields[name] = node.attributes.get("value") or ""
    return form.attributes.get("action") or "", fields


async def create(client: httpx.AsyncClient, name: str, tags: str = "[]", description: str = "d") -> httpx.Response:
    action, fields = form_of((await client.get("/templates/add")).text, "form#TemplateAddForm")
    return await client.post(action, data={**fields, "data[Template][name]": name,
                                           "data[Template][description]": description,
                                           "data[Template][share]": "1", "data[Template][tags]": tags})


def index_rows(page: str) -> list[dict[str, str]]:
    """Each row of the index by its cells' `data-path` (MISP's generic index table)."""
    return [{td.attributes.get("data-path") or "": td.text(strip=True) for td in tr.css("td[data-path]")}
            for tr in HTMLParser(page).css("table tbody tr")]


def meta(page: str) -> dict[str, str]:
    """A view page's meta table, label -> value text."""
    return {tr.css_first("td.meta_table_key").text(strip=True): tr.css_first("td.meta_table_value").text().strip()
            for tr in HTMLParser(page).css("table.meta_table tr")}


async def test_api_views_answer_500_and_writes_are_black_holed(sandbox_http: httpx.AsyncClient) -> None:
    for path in ("/templates/index", "/templates/view/1", "/templates/add", "/templateElements/index/4"):
        response = await sandbox_http.get(path)
        assert response.status_code == 500, path
    for path in ("/templates/add", "/templates/edit/4", "/templates/delete/999999"):
        response = await sandbox_http.post(path, json={"Template": {"name": "x", "description": "y"}})
        assert (response.status_code, response.json()["name"]) == (400, "The request has been black-holed"), path
    missing = await sandbox_http.get("/templates/view/999999")
    assert (missing.status_code, missing.json()["name"]) == (404, NOT_VISIBLE)
    gone = await sandbox_http.get("/templates/delete/999999")
    assert (gone.status_code, gone.json()["name"]) == (404, "Invalid Template.")


async def test_built_in_templates_are_listed_in_html(browser: httpx.AsyncClient) -> None:
    rows = index_rows((await browser.get("/templates/index")).text)
    # newest first; the column headed "Name" shows the org (MISP 2.5.1's index.ctp): no name on the index
    assert [(r["Template.id"], r["Organisation"], r["Template.org"], r["Template.description"]) for r in rows] == [
        (str(i), "MISP", "MISP", d) for i, (_n, d) in reversed(list(enumerate(BUILT_IN, 1)))]
    assert not {n for n, _d in BUILT_IN} & {value for row in rows for value in row.values()}


async def test_index_pages_by_fifty_newest_first(sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        store.insert_many("templates", [{"name": f"t{n}", "description": "d", "org": "MISP", "share": 1}
                                        for n in range(60)])
    first = (await browser.get("/templates/index")).text
    assert [r["Template.id"] for r in index_rows(first)] == [str(i) for i in range(64, 14, -1)]
    nxt = HTMLParser(first).css_first('.pagination a[rel="next"]')
    assert nxt is not None and nxt.attributes["href"] == "/templates/index/page:2"
    second = (await browser.get("/templates/index/page:2")).text
    assert [r["Template.id"] for r in index_rows(second)] == [str(i) for i in range(14, 0, -1)]
    assert HTMLParser(second).css_first('.pagination a[rel="next"]') is None
    assert (await browser.get("/templates/index/page:3")).status_code == 404


async def test_add_edit_delete_over_the_web_session(sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        tag = store.insert("tags", {"name": "tlp:green", "colour": "#00ff00"})
    response = await create(browser, "Mine", tags=f"[{tag['id']}]")
    assert response.status_code == 302
    view_path = response.headers["location"].removeprefix(BASE)
    template_id = view_path.rsplit("/", 1)[1]
    view = (await browser.get(view_path)).text
    assert meta(view) == {"Id": template_id, "Name": "Mine", "Description": "d", "Tags": "tlp:green",
                          "Organisation": "ORGNAME", "Shareable": ""}
    assert [s.text() for s in HTMLParser(view).css("table.meta_table span.tagComplete")] == ["tlp:green"]
    assert HTMLParser(view).css_first("table.meta_table i.fa-check") is not None
    edit_page = (await browser.get(f"/templates/edit/{template_id}")).text
    action, fields = form_of(edit_page, "form#TemplateEditForm")
    assert fields["data[Template][tags]"] == "[]"  # as MISP: its script fills the list from selectedTags
    assert f'var selectedTags = ["{tag["id"]}"]' in edit_page
    assert (fields["data[Template][description]"], fields["data[Template][share]"]) == ("d", "1")
    del fields["data[Template][share]"]  # unchecked: only the hidden "0" is posted
    await browser.post(action, data={**fields, "data[Template][share]": "0",
                                     "data[Template][description]": "edited"})
    view = (await browser.get(view_path)).text
    assert (meta(view)["Description"], meta(view)["Tags"]) == ("edited", "")  # the posted "[]" removed the tag
    assert HTMLParser(view).css_first("table.meta_table i.fa-times") is not None
    modal = (await browser.get(f"/templates/delete/{template_id}")).text
    assert not modal.startswith("<!DOCTYPE")  # the ajax layout: a fragment for the modal
    action, fields = form_of(modal, f'form[action="/templates/delete/{template_id}"]')
    assert (await browser.post(action, data=fields)).headers["location"] == f"{BASE}/templates/index"
    assert (await browser.get(view_path)).status_code == 404


async def test_an_empty_name_is_saved_as_misp_does(browser: httpx.AsyncClient) -> None:
    """MISP 2.5.1's Template model has no validation rules."""
    response = await create(browser, "", description="")
    assert response.status_code == 302
    assert meta((await browser.get(response.headers["location"].removeprefix(BASE))).text)["Name"] == ""


async def test_editing_a_built_in_template_takes_ownership(browser: httpx.AsyncClient) -> None:
    action, fields = form_of((await browser.get("/templates/edit/4")).text, "form#TemplateEditForm")
    await browser.post(action, data=fields)
    assert meta((await browser.get("/templates/view/4")).text)["Organisation"] == "ORGNAME"


async def test_elements_over_ajax(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient) -> None:
    body = {"TemplateElementText": {"name": "Intro", "text": "Some text"}}
    no_ajax = await sandbox_http.post("/templateElements/add/text/4", json=body)
    assert (no_ajax.status_code, no_ajax.json()["name"]) == (405, AJAX_ONLY)
    added = await sandbox_http.post("/templateElements/add/text/4", json=body, headers=AJAX)
    assert added.json() == {"saved": True, "success": "Element successfully added to template."}
    await sandbox_http.post("/templateElements/add/text/4", json=body, headers=AJAX)
    store = sandbox_app.state.store
    with store.transaction():
        first, second = store.find("template_elements", template_id=4)
    edited = await sandbox_http.post(f"/templateElements/edit/text/{first['id']}", headers=AJAX,
                                     json={"TemplateElementText": {"name": "Renamed", "text": "t"}})
    assert edited.json() == {"saved": True, "success": "Element successfully edited."}
    deleted = await sandbox_http.post(f"/templateElements/delete/{first['id']}", json={}, headers=AJAX)
    assert deleted.json() == {"saved": True, "success": "Element deleted."}
    again = await sandbox_http.post(f"/templateElements/delete/{first['id']}", json={}, headers=AJAX)
    assert (again.status_code, again.json()["name"]) == (404, "Not Found")
    with store.transaction():
        remaining = store.find("template_elements", template_id=4)
        assert [(e["id"], e["position"]) for e in remaining] == [(second["id"], 1)]  # renumbered


async def test_element_validation_and_the_api_category_quirk(sandbox_http: httpx.AsyncClient) -> None:
    empty = await sandbox_http.post("/templateElements/add/text/4", headers=AJAX,
                                    json={"TemplateElementText": {"name": "", "text": "x"}})
    assert empty.json() == {"saved": False, "errors": {"name": ["This field cannot be left empty."]}}
    attribute = await sandbox_http.post("/templateElements/add/attribute/4", headers=AJAX, json={
        "TemplateElementAttribute": {"name": "ip", "category": "Network activity", "type": "ip-dst"}})
    assert attribute.json() == {"saved": False, "errors": {"category": ["Please choose a category."],
                                                           "type": ["Please choose a type."]}}
    unknown = await sandbox_http.post("/templateElements/add/text/999", headers=AJAX, json={})
    assert unknown.status_code == 404


def row_id(app: SandboxApp) -> int:
    store = app.state.store
    with store.transaction():
        [element] = store.all("template_elements")
    return int(element["id"])


async def test_attribute_elements_work_from_the_browser(sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    response = await browser.post("/templateElements/add/attribute/4", headers=AJAX, data={
        "data[TemplateElementAttribute][name]": "ip", "data[TemplateElementAttribute][category]": "Network activity",
        "data[TemplateElementAttribute][type]": "ip-dst", "data[TemplateElementAttribute][to_ids]": "1"})
    assert response.json()["saved"] is True
    store = sandbox_app.state.store
    with store.transaction():
        [row] = store.all("template_element_attributes")
    assert (row["type"], row["to_ids"]) == ("ip-dst", 1)
    page = (await browser.get("/templateElements/index/4")).text
    assert not page.startswith("<!DOCTYPE")  # a fragment, as MISP renders it without a layout
    [row] = HTMLParser(page).css("#ajaxTemplateElementsIndex ul#sortable li.templateTableRow")
    assert row.attributes["id"] == f"id_{row_id(sandbox_app)}"
    assert row.css_first(".templateElementHeaderText").text(strip=True) == "Attribute"
    areas = [(a.css_first(".templateTableColumnName").text(strip=True), a.css("div")[-1].text().strip())
             for a in row.css("div.templateTableArea")]
    assert areas == [("Name", "ip"), ("Description", ""), ("Category", "Network activity"), ("Types", "ip-dst"),
                     ("Mandatory", "No"), ("Batch", "No"), ("IDS", "Yes"), ("Actions", "")]
    assert "editTemplateElement('attribute'" in (row.css_first("span.fa-edit").attributes.get("onclick") or "")
    view = (await browser.get("/templates/view/4")).text
    assert HTMLParser(view).css_first("#templateElements li") is None  # MISP's view page loads them by AJAX


async def test_users_without_perm_template_cannot_write(sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    store = sandbox_app.state.store
    with store.transaction():
        role = store.first("roles", name="Read Only")
        assert role is not None
        store.update("users", 1, {"role_id": role["id"]})
    assert (await browser.get("/templates/add")).status_code == 403
    assert len(index_rows((await browser.get("/templates/index")).text)) == len(BUILT_IN)
    modal = (await browser.get("/templates/delete/4")).text
    assert "not authorised to edit it" in modal and "<form" not in modal

"""Tags over HTTP as MISP 2.5.1 answers them (transcripts tags--*, auth--org-admin-refusals)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

RGB_ERROR = "Could not add the Tag. [colour]: Colour has to be in the RGB format (#FFFFFF)"
FRESH_TLP = ["tlp:red", "tlp:amber", "tlp:amber+strict", "tlp:green", "tlp:white", "tlp:clear", "tlp:ex:chr",
             "tlp:unclear"]


async def add_tag(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/tags/add", json=body)
    assert response.status_code == 200, response.text
    tag: dict[str, Any] = response.json()["Tag"]
    return tag


async def test_a_fresh_instance_holds_the_hidden_tlp_tags(sandbox_http: httpx.AsyncClient) -> None:
    tags = (await sandbox_http.get("/tags/index/searchall:tlp:")).json()["Tag"]
    assert sorted(t["id"] for t in tags) == [str(i) for i in range(2, 10)]
    assert {t["name"] for t in tags} == set(FRESH_TLP) and all(t["hide_tag"] for t in tags)


async def test_add_without_colour_hashes_the_name(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, name="ref-eh24sn:crud")  # tags--crud step 0
    assert tag == {"id": tag["id"], "name": "ref-eh24sn:crud", "colour": "#d301bf", "exportable": True,
                   "org_id": "0", "user_id": "0", "hide_tag": False, "numerical_value": None, "is_galaxy": False,
                   "is_custom_galaxy": False, "local_only": False}


async def test_add_with_every_field_then_view(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, Tag={"name": 'ns:full="value"', "colour": "#FF00aa", "exportable": False,
                                           "hide_tag": True, "local_only": True, "org_id": "1", "user_id": "1",
                                           "numerical_value": 42})
    view = (await sandbox_http.get(f"/tags/view/{tag['id']}")).json()
    assert view == {**tag, "count": 0, "attribute_count": 0}
    assert (view["colour"], view["org_id"], view["numerical_value"], view["exportable"]) == ("#FF00aa", "1", "42", False)


async def test_galaxy_flags_follow_the_name(sandbox_http: httpx.AsyncClient) -> None:
    galaxy = await add_tag(sandbox_http, name='misp-galaxy:threat-actor="APT 1"')
    assert (galaxy["is_galaxy"], galaxy["is_custom_galaxy"]) == (True, True)
    plain = await add_tag(sandbox_http, name="plain")
    assert (plain["is_galaxy"], plain["is_custom_galaxy"]) == (False, False)


async def test_add_of_an_existing_name_returns_it_unchanged(sandbox_http: httpx.AsyncClient) -> None:
    first = await add_tag(sandbox_http, name="dup", colour="#000000")
    again = await add_tag(sandbox_http, name="dup", colour="#ffffff")
    assert again == first


async def test_edit_resets_fields_it_is_not_sent(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, name="crud")
    url = f"/tags/edit/{tag['id']}"
    hidden = (await sandbox_http.post(url, json={"exportable": False, "hide_tag": True, "local_only": True,
                                                 "name": "crud"})).json()["Tag"]
    assert (hidden["exportable"], hidden["hide_tag"], hidden["local_only"]) == (False, True, True)
    # The quirk (tags--crud step 3): a colour-only edit puts exportable, hide_tag and local_only back to defaults.
    partial = (await sandbox_http.post(url, json={"colour": "#123abc"})).json()["Tag"]
    assert (partial["colour"], partial["exportable"], partial["hide_tag"], partial["local_only"]) == (
        "#123abc", True, False, False)
    renamed = (await sandbox_http.put(url, json={"Tag": {"name": "crud-renamed"}})).json()["Tag"]
    assert (renamed["name"], renamed["colour"]) == ("crud-renamed", "#123abc")


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "a", "colour": "#12345"}, 405, RGB_ERROR),
    ({"name": "b", "colour": "red"}, 405, RGB_ERROR),
    ({"name": "c", "colour": "rgb(1,2,3)"}, 405, RGB_ERROR),
    ({"name": "d", "colour": ""}, 405, "Could not add the Tag. [colour]: Colour cannot be empty."),
    ({"colour": "#ffffff"}, 500, "An Internal Error Has Occurred."),
    ({"name": ""}, 405, "Could not add the Tag. [name]: This field is required."),
])
async def test_add_errors(sandbox_http: httpx.AsyncClient, body: dict[str, Any], status: int, message: str) -> None:
    response = await sandbox_http.post("/tags/add", json=body)
    assert (response.status_code, response.json()) == (status, {"name": message, "message": message,
                                                                "url": "/tags/add"})
    assert (await sandbox_http.get("/tags/index/searchall:tlp")).json()["Tag"][0]["name"].startswith("tlp:")
    assert len((await sandbox_http.get("/tags/index")).json()["Tag"]) == len(FRESH_TLP)


async def test_edit_errors(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, name="mine")
    clash = await sandbox_http.post(f"/tags/edit/{tag['id']}", json={"name": "tlp:red"})
    assert (clash.status_code, clash.json()["name"]) == (405, "Could not add the Tag. [name]: A similar name already exists.")
    colour = await sandbox_http.post(f"/tags/edit/{tag['id']}", json={"colour": "blue"})
    assert (colour.status_code, colour.json()["name"]) == (405, RGB_ERROR)
    missing = await sandbox_http.post("/tags/edit/999999", json={"colour": "#ffffff"})
    assert (missing.status_code, missing.json()["name"]) == (404, "Invalid tag")
    assert (await sandbox_http.get(f"/tags/view/{tag['id']}")).json()["name"] == "mine"


async def test_get_describes_add_and_edit(sandbox_http: httpx.AsyncClient) -> None:
    add = (await sandbox_http.get("/tags/add")).json()
    assert (add["name"], add["mandatory_fields"]) == ("/tags/add API description", ["name"])
    edit = (await sandbox_http.get("/tags/edit/2")).json()
    assert (edit["name"], edit["url"]) == ("/tags/edit API description", "/tags/edit/[tag_id]")


async def test_delete_then_view_and_wrong_method(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, name="short-lived")
    wrong = await sandbox_http.get(f"/tags/delete/{tag['id']}")
    assert (wrong.status_code, wrong.json()["name"]) == (405, "Method Not Allowed")
    gone = (await sandbox_http.post(f"/tags/delete/{tag['id']}", json={})).json()
    assert gone == {"name": "Tag deleted.", "message": "Tag deleted.",
                    "url": f"http://127.0.0.1:8080/tags/delete/{tag['id']}"}
    view = await sandbox_http.get(f"/tags/view/{tag['id']}")
    assert (view.status_code, view.json()["name"]) == (405, "Invalid Tag")
    again = await sandbox_http.post(f"/tags/delete/{tag['id']}", json={})
    assert (again.status_code, again.json()["name"]) == (404, "Invalid tag")
    logs = (await sandbox_http.get("/admin/logs/index/model:Tag")).json()
    assert [r["Log"]["action"] for r in logs] == ["add", "delete"]


async def test_index_filters_and_search(sandbox_http: httpx.AsyncClient) -> None:
    tag = await add_tag(sandbox_http, name='ref:full="value"')
    exact = (await sandbox_http.get("/tags/index/name:ref%3Afull%3D%22value%22")).json()["Tag"]
    assert [t["id"] for t in exact] == [tag["id"]] and exact[0]["favourite"] is False
    bare = (await sandbox_http.get("/tags/index/searchall:ref/exclude_statistics:1")).json()["Tag"]
    assert "count" not in bare[0] and "attribute_count" not in bare[0]
    by_name = (await sandbox_http.get("/tags/search/ref%3Afull%3D%22value%22")).json()
    by_pattern = (await sandbox_http.get("/tags/search/%25ref%25")).json()
    # An exact name over GET finds nothing; only a %-pattern does (tags--add-full-index-search steps 7-8).
    assert [r["Tag"]["id"] for r in by_pattern] == [tag["id"]] and by_name == []
    posted = (await sandbox_http.post("/tags/search", json={"tag": ['ref:full="value"', "tlp:red"]})).json()
    assert [r["Tag"]["name"] for r in posted] == ["tlp:red", 'ref:full="value"']  # id order, not request order
    # A taxonomy tag carries its taxonomy and predicate, even with the taxonomy disabled; others carry nothing.
    assert (posted[0]["Taxonomy"]["namespace"], posted[0]["Taxonomy"]["enabled"]) == ("tlp", False)
    assert (posted[0]["TaxonomyPredicate"]["value"], posted[0]["TaxonomyPredicate"]["taxonomy_id"]) == ("red", "141")
    assert set(posted[1]) == {"Tag"}


async def test_an_org_admin_reads_tags_but_cannot_write_them(sandbox_http: httpx.AsyncClient) -> None:
    org = (await sandbox_http.post("/admin/organisations/add", json={"name": "Other"})).json()["Organisation"]
    roles = {r["Role"]["name"]: r["Role"]["id"] for r in (await sandbox_http.get("/roles/index")).json()}
    user = (await sandbox_http.post("/admin/users/add", json={
        "email": "oa@other.example", "org_id": org["id"], "role_id": roles["Org Admin"]})).json()["User"]
    key = {"Authorization": user["authkey"]}
    listed = (await sandbox_http.get("/tags/index/searchall:tlp:red", headers=key)).json()["Tag"]
    assert [t["name"] for t in listed] == ["tlp:red"]
    for path in ("/tags/edit/2", "/tags/delete/2"):
        assert (await sandbox_http.post(path, headers=key, json={"colour": "#000000"})).status_code == 403

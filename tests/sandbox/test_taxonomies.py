"""Taxonomies over HTTP as MISP 2.5.1 answers them (transcripts taxonomies--*), from MISP's taxonomy library."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.sandbox import create_app

PAP, ADMIRALTY, TLP = "5", "10", "141"  # the ids a fresh MISP 2.5.1 gives them (taxonomies--index-view)
PAP_TAGS = ["PAP:AMBER", "PAP:CLEAR", "PAP:GREEN", "PAP:RED", "PAP:WHITE"]


async def tag_names(http: httpx.AsyncClient, term: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (await http.get(f"/tags/index/searchall:{term}")).json()["Tag"]}


def test_app_creation_does_not_load_the_library() -> None:
    app = create_app()  # the library is loaded on the first taxonomy request, not here
    with app.state.store.transaction():
        assert app.state.store.count("taxonomies") == 0


async def test_index_starts_all_disabled_with_misp_ids(sandbox_http: httpx.AsyncClient) -> None:
    listed = (await sandbox_http.get("/taxonomies/index")).json()
    ids = {t["Taxonomy"]["namespace"]: t["Taxonomy"]["id"] for t in listed}
    assert (ids["PAP"], ids["admiralty-scale"], ids["tlp"]) == (PAP, ADMIRALTY, TLP)
    assert not any(t["Taxonomy"]["enabled"] for t in listed)
    assert (await sandbox_http.get("/taxonomies/index/enabled:1")).json() == []
    pap = next(t for t in listed if t["Taxonomy"]["namespace"] == "PAP")
    assert (pap["total_count"], pap["current_count"], pap["Taxonomy"]["version"]) == (5, 0, "3")
    found = [t["Taxonomy"]["namespace"] for t in (await sandbox_http.get("/taxonomies/index/value:pap")).json()]
    assert "PAP" in found and "tlp" not in found


async def test_view_by_id_shows_entries_and_hidden_tlp_tags(sandbox_http: httpx.AsyncClient) -> None:
    view = (await sandbox_http.get(f"/taxonomies/view/{TLP}")).json()
    red = view["entries"][0]
    assert (red["tag"], red["colour"], red["existing_tag"]["Tag"]["hide_tag"]) == ("tlp:red", "#FF2B2B", True)
    assert "numerical_value" not in red and "exclusive_predicate" not in red
    for path in ("/taxonomies/view/PAP", "/taxonomies/view/999999"):  # by numeric id only
        assert (await sandbox_http.get(path)).status_code == 404


async def test_enable_creates_no_tags_add_tag_creates_all_disable_hides(sandbox_http: httpx.AsyncClient) -> None:
    enabled = (await sandbox_http.post(f"/taxonomies/enable/{PAP}", json={})).json()
    assert enabled == {"saved": True, "success": True, "name": "Taxonomy enabled", "message": "Taxonomy enabled",
                       "url": f"/taxonomies/enable/{PAP}", "id": PAP}
    assert await tag_names(sandbox_http, "PAP:") == {}
    added = (await sandbox_http.post(f"/taxonomies/addTag/{PAP}", json={})).json()
    assert (added["name"], added["id"]) == ("The tag(s) has been saved.", PAP)
    tags = await tag_names(sandbox_http, "PAP:")
    assert sorted(tags) == PAP_TAGS and tags["PAP:RED"]["colour"] == "#ff2b2b"
    assert tags["PAP:RED"]["Taxonomy"]["expanded"].startswith("(PAP:RED)")
    counted = (await sandbox_http.get("/taxonomies/index/enabled:1")).json()
    assert [(t["Taxonomy"]["id"], t["current_count"]) for t in counted] == [(PAP, 5)]
    await sandbox_http.post(f"/taxonomies/disable/{PAP}", json={})
    hidden = await tag_names(sandbox_http, "PAP:")
    assert all(t["hide_tag"] for t in hidden.values()) and "Taxonomy" not in hidden["PAP:RED"]
    await sandbox_http.post(f"/taxonomies/enable/{PAP}", json={})  # re-enabling leaves them hidden
    assert all(t["hide_tag"] for t in (await tag_names(sandbox_http, "PAP:")).values())
    logs = (await sandbox_http.get("/admin/logs/index/model:Taxonomy")).json()
    assert [r["Log"]["action"] for r in logs] == ["enable", "disable", "enable"]


async def test_add_tag_selection_needs_name_list_as_a_json_string(sandbox_http: httpx.AsyncClient) -> None:
    names = ['admiralty-scale:source-reliability="a"', 'admiralty-scale:source-reliability="b"']
    picked = await sandbox_http.post("/taxonomies/addTag", json={
        "Taxonomy": {"taxonomy_id": ADMIRALTY, "nameList": json.dumps(names)}})
    assert picked.status_code == 200
    single = 'admiralty-scale:information-credibility="1"'
    await sandbox_http.post("/taxonomies/addTag", json={"Taxonomy": {"taxonomy_id": ADMIRALTY, "name": single}})
    as_list = await sandbox_http.post("/taxonomies/addTag", json={
        "Taxonomy": {"taxonomy_id": ADMIRALTY, "nameList": ['admiralty-scale:information-credibility="2"']}})
    assert (as_list.status_code, as_list.json()["name"]) == (500, "An Internal Error Has Occurred.")
    tags = await tag_names(sandbox_http, "admiralty-scale:")
    assert sorted(tags) == sorted([*names, single]) and tags[names[0]]["numerical_value"] == "100"
    dropped = await sandbox_http.post("/taxonomies/disableTag", json={
        "Taxonomy": {"taxonomy_id": ADMIRALTY, "nameList": json.dumps(names[:1])}})
    assert (dropped.status_code, dropped.text, dropped.headers["location"]) == (302, "", "http://127.0.0.1:8080/")
    view = (await sandbox_http.get(f"/taxonomies/view/{ADMIRALTY}")).json()
    first = view["entries"][0]
    assert (first["expanded"], first["exclusive_predicate"], first["numerical_value"]) == (
        "Source Reliability: Completely reliable", True, "100")
    assert first["existing_tag"]["Tag"]["hide_tag"] is True and view["entries"][1]["existing_tag"]["Tag"]["hide_tag"] is False
    assert all(e["existing_tag"] is False for e in view["entries"][2:6])


@pytest.mark.parametrize("path", ["/taxonomies/enable/999999", "/taxonomies/disable/999999"])
async def test_toggling_an_unknown_taxonomy_fails(sandbox_http: httpx.AsyncClient, path: str) -> None:
    response = await sandbox_http.post(path, json={})
    assert (response.status_code, response.json()["errors"]) == (403, "Invalid taxonomy.")


async def test_add_tag_for_an_unknown_taxonomy_fails(sandbox_http: httpx.AsyncClient) -> None:
    response = await sandbox_http.post("/taxonomies/addTag/999999", json={})
    assert (response.status_code, response.json()["errors"]) == (403, "The tag(s) could not be saved. Invalid Taxonomy")


async def test_toggle_required_needs_the_wrapper(sandbox_http: httpx.AsyncClient) -> None:
    bare = await sandbox_http.post(f"/taxonomies/toggleRequired/{PAP}", json={"required": True})
    assert bare.status_code == 403
    wrapped = (await sandbox_http.post(f"/taxonomies/toggleRequired/{PAP}", json={"Taxonomy": {"required": True}})).json()
    assert wrapped["message"] == "Taxonomy toggleRequireded"
    pap = next(t for t in (await sandbox_http.get("/taxonomies/index")).json() if t["Taxonomy"]["id"] == PAP)
    assert pap["Taxonomy"]["required"] is True


async def test_export_by_namespace(sandbox_http: httpx.AsyncClient) -> None:
    exported = (await sandbox_http.get("/taxonomies/export/PAP")).json()
    assert (exported["namespace"], exported["version"], exported["exclusive"]) == ("PAP", 3, True)
    assert [p["value"] for p in exported["predicates"]] == ["RED", "AMBER", "GREEN", "CLEAR", "WHITE"]
    assert all("uuid" not in p for p in exported["predicates"])
    assert (await sandbox_http.get("/taxonomies/export/nope")).status_code == 404


async def test_only_site_admins_change_taxonomies(sandbox_http: httpx.AsyncClient) -> None:
    org = (await sandbox_http.post("/admin/organisations/add", json={"name": "Other"})).json()["Organisation"]
    roles = {r["Role"]["name"]: r["Role"]["id"] for r in (await sandbox_http.get("/roles/index")).json()}
    user = (await sandbox_http.post("/admin/users/add", json={
        "email": "oa@other.example", "org_id": org["id"], "role_id": roles["Org Admin"]})).json()["User"]
    key = {"Authorization": user["authkey"]}
    assert (await sandbox_http.get("/taxonomies/index", headers=key)).status_code == 200
    assert (await sandbox_http.post(f"/taxonomies/enable/{PAP}", headers=key, json={})).status_code == 403


async def test_update_finds_the_library_current_and_add_tag_logs_new_tags(sandbox_http: httpx.AsyncClient) -> None:
    updated = (await sandbox_http.post("/taxonomies/update", json={})).json()
    assert (updated["success"], updated["message"]) == (True, "All taxonomy libraries are up to date already.")
    await sandbox_http.post(f"/taxonomies/addTag/{PAP}", json={})
    await sandbox_http.post(f"/taxonomies/addTag/{PAP}", json={})  # existing tags are updated, not re-added
    logs = (await sandbox_http.get("/admin/logs/index/model:Tag")).json()
    assert sorted(r["Log"]["title"].split(": ")[1] for r in logs) == PAP_TAGS

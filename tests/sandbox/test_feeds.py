"""Feeds over HTTP (feeds--*): REST add defaults, validation, aliases and encodings, default catalogue, queued
work that never touches the network."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxApp

FEED = {"name": "Test feed", "provider": "Tests", "url": "https://feeds.example/list.txt"}


async def add(http: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await http.post("/feeds/add", json={"Feed": {**FEED, **fields}})


async def test_add_applies_rest_defaults_and_php_encodings(sandbox_http: httpx.AsyncClient) -> None:
    feed = (await add(sandbox_http, settings={"common": {"excluderegex": "/^#/"}}, input_source="Carrier-Pigeon",
                      default=True)).json()["Feed"]
    assert feed["source_format"] == "freetext" and feed["fixed_event"] is True and feed["distribution"] == "0"
    assert feed["enabled"] is False and feed["default"] is False and feed["rules"] is None
    assert feed["input_source"] == "network"
    assert feed["settings"] == '{"common":{"excluderegex":"\\/^#\\/"}}'


async def test_edit_takes_pull_rules_as_rules_and_resets_the_sharing_group(sandbox_http: httpx.AsyncClient) -> None:
    feed_id = (await add(sandbox_http, distribution="4", sharing_group_id="7")).json()["Feed"]["id"]
    rules = '{"tags": {"OR": ["1"], "NOT": []}, "orgs": {"OR": [], "NOT": []}, "url_params": ""}'
    edited = (await sandbox_http.post(f"/feeds/edit/{feed_id}", json={"pull_rules": rules})).json()["Feed"]
    assert edited["rules"] == edited["pull_rules"] == rules
    assert edited["sharing_group_id"] == "7"
    edited = (await sandbox_http.post(f"/feeds/edit/{feed_id}", json={"distribution": "1"})).json()["Feed"]
    assert edited["sharing_group_id"] == "0" and "pull_rules" not in edited
    edited = (await sandbox_http.post(f"/feeds/edit/{feed_id}", json={"settings": '{"common": {"excluderegex": "/x/"}}'}
                                      )).json()["Feed"]
    assert edited["settings"] == '{"common":{"excluderegex":"\\/x\\/"}}'


@pytest.mark.parametrize(("fields", "status", "errors"), [
    ({"url": "not a url"}, 403, {"url": ["This field cannot be left blank"]}),
    ({"name": ""}, 403, {"name": ["This field cannot be left blank"]}),
    ({"settings": {"common": {"excluderegex": "no-delimiters"}}}, 403, []),
    ({"url": "/nonexistent/path", "input_source": "local"}, 403, {"url": [
        "Invalid path or file not found. Make sure that the path points to an existing file that is readable and "
        "watch out for typos."]}),
    ({"provider": ""}, 500, None),
])
async def test_add_refusals_write_nothing(sandbox_app: SandboxApp, sandbox_http: httpx.AsyncClient,
                                          fields: dict[str, Any], status: int, errors: Any) -> None:
    with sandbox_app.state.store.transaction():
        before = sandbox_app.state.store.count("feeds")
    answer = await add(sandbox_http, **fields)
    assert answer.status_code == status
    if errors is not None:
        assert answer.json()["errors"] == errors and answer.json()["message"] == "Could not add feed"
    with sandbox_app.state.store.transaction():
        assert sandbox_app.state.store.count("feeds") == before


async def test_duplicate_urls_are_allowed_as_in_misp(sandbox_http: httpx.AsyncClient) -> None:
    first, second = await add(sandbox_http), await add(sandbox_http, name="Again")
    assert first.status_code == second.status_code == 200
    assert first.json()["Feed"]["id"] != second.json()["Feed"]["id"]


async def test_missing_feeds(sandbox_http: httpx.AsyncClient) -> None:
    for method, path, status in (("GET", "/feeds/view/999", 404), ("POST", "/feeds/edit/999", 404),
                                 ("POST", "/feeds/delete/999", 404), ("POST", "/feeds/enable/999", 405),
                                 ("POST", "/feeds/disable/abc", 405)):
        answer = await sandbox_http.request(method, path, json={})
        assert (answer.status_code, answer.json()["message"]) == (status, "Invalid Feed."), path


async def test_enable_disable_delete_and_index_scopes(sandbox_http: httpx.AsyncClient) -> None:
    feed_id = (await add(sandbox_http)).json()["Feed"]["id"]
    assert (await sandbox_http.get(f"/feeds/enable/{feed_id}")).json()["message"] == "Feed enabled."
    assert (await sandbox_http.get(f"/feeds/view/{feed_id}")).json()["Feed"]["enabled"] is True
    custom = (await sandbox_http.get("/feeds/index/scope:custom")).json()
    assert [f["Feed"]["id"] for f in custom] == [feed_id]
    assert custom[0]["Feed"]["cache_timestamp"] is False
    defaults = (await sandbox_http.get("/feeds/index/scope:default")).json()
    assert [f["Feed"]["name"] for f in defaults] == ["CIRCL OSINT Feed", "The Botvrij.eu Data"]
    assert (await sandbox_http.get(f"/feeds/delete/{feed_id}")).text.count("Are you sure") == 1  # GET: a modal
    deleted = (await sandbox_http.post(f"/feeds/delete/{feed_id}")).json()
    assert deleted["message"] == "Feed deleted." and deleted["id"] == int(feed_id)


async def test_index_and_view_embed_tag_and_creator_org(sandbox_http: httpx.AsyncClient) -> None:
    tag = (await sandbox_http.post("/tags/add", json={"name": "feed:tag"})).json()["Tag"]
    feed_id = (await add(sandbox_http, tag_id=tag["id"], orgc_id="1")).json()["Feed"]["id"]
    entry = (await sandbox_http.get("/feeds/index/scope:custom")).json()[0]
    assert entry["Tag"]["name"] == "feed:tag" and entry["Orgc"]["id"] == "1"
    view = (await sandbox_http.get(f"/feeds/view/{feed_id}")).json()
    assert view["Tag"]["id"] == tag["id"] and view["Feed"]["coverage_by_other_feeds"] == "0%"


async def test_load_default_feeds_is_idempotent_by_url(sandbox_http: httpx.AsyncClient) -> None:
    answer = await sandbox_http.post("/feeds/loadDefaultFeeds")
    assert answer.json()["message"] == "Default feed metadata loaded."
    feeds = (await sandbox_http.get("/feeds/index")).json()
    assert len(feeds) == 84  # the fresh install's two are in the catalogue and not loaded twice
    loaded = [f for f in feeds if f["Feed"]["id"] not in ("1", "2")]
    assert all(not f["Feed"]["enabled"] and f["Feed"]["distribution"] == "0" for f in loaded)
    assert sum("Tag" in f for f in loaded) > 50  # catalogue tags captured by name
    await sandbox_http.post("/feeds/loadDefaultFeeds")
    assert len((await sandbox_http.get("/feeds/index")).json()) == 84


async def test_fetch_cache_and_preview_never_touch_the_network(sandbox_app: SandboxApp,
                                                               sandbox_http: httpx.AsyncClient) -> None:
    feed_id = (await add(sandbox_http, url="http://127.0.0.1:9/never")).json()["Feed"]["id"]
    disabled = (await sandbox_http.post(f"/feeds/fetchFromFeed/{feed_id}")).json()
    assert disabled == {"result": "Feed is currently not enabled. Make sure you enable it."}
    await sandbox_http.post(f"/feeds/enable/{feed_id}")
    queued = (await sandbox_http.post(f"/feeds/fetchFromFeed/{feed_id}")).json()
    assert queued == {"result": "Pull queued for background execution."}
    cached = (await sandbox_http.post("/feeds/cacheFeeds/all")).json()
    assert cached["message"] == "Feed caching job initiated."
    assert (await sandbox_http.post("/feeds/cacheFeeds/nonsense")).status_code == 405
    preview = (await sandbox_http.get(f"/feeds/previewIndex/{feed_id}")).json()
    assert preview and {"value", "type", "category", "to_ids"} <= set(preview[0])
    with sandbox_app.state.store.transaction():
        actions = {r["action"] for r in sandbox_app.state.store.find("logs", model="Feed")}
    assert {"add", "edit", "fetch", "cache"} <= actions


async def test_toggle_selected_switches_several_feeds(sandbox_http: httpx.AsyncClient) -> None:
    ids = [(await add(sandbox_http, name=f"F{i}")).json()["Feed"]["id"] for i in range(2)]
    answer = await sandbox_http.post(f"/feeds/toggleSelected/1/1/[{','.join(ids)}]")
    assert answer.status_code == 302
    views = [(await sandbox_http.get(f"/feeds/view/{i}")).json()["Feed"] for i in ids]
    assert all(v["caching_enabled"] and not v["enabled"] for v in views)
    assert (await sandbox_http.post("/feeds/toggleSelected/1/0/notjson")).status_code == 405

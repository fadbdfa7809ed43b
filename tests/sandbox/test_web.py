"""The browser login of the sandbox as our client does it: GET the form, parse it with a real HTML parser,
POST it back with CakePHP's Security tokens, keep the session cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.http import hash_password

BASE = "http://127.0.0.1:8080"


@pytest.fixture
async def browser(sandbox_app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client without an API key (a browser)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE) as client:
        yield client


def form_fields(page: str, form_selector: str = "form") -> tuple[str, dict[str, str]]:
    """The action and every named input of a form, as a browser would submit them."""
    form = HTMLParser(page).css_first(form_selector)
    assert form is not None, page
    inputs = {node.attributes["name"] or "": node.attributes.get("value") or ""
              for node in form.css("input") if node.attributes.get("name")}
    return form.attributes["action"] or "", inputs


def text_of(page: str, selector: str) -> str:
    node = HTMLParser(page).css_first(selector)
    assert node is not None, f"{selector} not in the page"
    return node.text()


async def login(client: httpx.AsyncClient, email: str = "admin@admin.test", password: str = "admin") -> httpx.Response:
    action, fields = form_fields((await client.get("/users/login")).text, "#UserLoginForm")
    fields.update({"data[User][email]": email, "data[User][password]": password})
    return await client.post(action, data=fields)


async def test_login_form_has_cakephp_security_inputs(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/users/login")
    action, fields = form_fields(response.text, "#UserLoginForm")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert action == "/users/login"
    assert {"_method", "data[_Token][key]", "data[_Token][fields]", "data[_Token][unlocked]",
            "data[User][email]", "data[User][password]"} <= set(fields)
    again = form_fields((await browser.get("/users/login")).text)[1]
    assert again["data[_Token][key]"] != fields["data[_Token][key]"]  # a fresh token per form


async def test_login_sets_a_session_that_opens_web_pages(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/admin/allowedlists/index")).status_code == 302
    response = await login(browser)
    assert response.status_code == 302 and response.headers["location"] == f"{BASE}/"
    assert (await browser.get("/admin/allowedlists/index")).status_code == 200
    logout = await browser.get("/users/logout")
    assert logout.headers["location"] == f"{BASE}/users/login"
    assert (await browser.get("/admin/allowedlists/index")).status_code == 302


async def test_wrong_password_and_disabled_user_stay_on_the_login_page(
        sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    wrong = await login(browser, password="nope")
    assert wrong.status_code == 200
    assert "Invalid username or password" in text_of(wrong.text, "#flashMessage")
    store = sandbox_app.state.store
    with store.transaction():
        store.update("users", 1, {"disabled": 1, "password": hash_password("pw")})
    assert (await login(browser, password="pw")).status_code == 200
    assert (await browser.get("/admin/allowedlists/index")).status_code == 302


async def test_post_without_or_with_replayed_or_tampered_tokens_is_black_holed(browser: httpx.AsyncClient) -> None:
    no_tokens = await browser.post("/users/login", data={"data[User][email]": "admin@admin.test",
                                                          "data[User][password]": "admin"})
    assert no_tokens.status_code == 400 and "black-holed" in no_tokens.text
    action, fields = form_fields((await browser.get("/users/login")).text)
    tampered = {**fields, "data[User][email]": "admin@admin.test", "data[User][role_id]": "1"}
    assert (await browser.post(action, data=tampered)).status_code == 400
    fields.update({"data[User][email]": "admin@admin.test", "data[User][password]": "admin"})
    assert (await browser.post(action, data=fields)).status_code == 302
    assert (await browser.post(action, data=fields)).status_code == 400  # the token was used up


async def test_an_api_key_does_not_open_web_pages(sandbox_http: httpx.AsyncClient) -> None:
    for path in ("/admin/allowedlists/index", "/admin/allowedlists/index.json", "/allowedlists/admin_index"):
        response = await sandbox_http.get(path)
        assert response.status_code == 302 and response.headers["location"] == f"{BASE}/users/login", path


async def test_login_is_logged_without_the_password(sandbox_app: SandboxApp, browser: httpx.AsyncClient) -> None:
    await login(browser)
    store = sandbox_app.state.store
    with store.transaction():
        [row] = store.find("logs", action="login")
    assert (row["title"], row["email"], row["description"]) == ("User (1): admin@admin.test", "admin@admin.test", "")
    assert "admin" not in (row["change"] or "")

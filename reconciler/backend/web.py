"""WebSession: MISP's browser side, for the pages MISP refuses to API keys (allowedlist, regexp index).

It logs in as a site admin with an e-mail and a password (resolved from a secret reference at login time,
never logged, never kept after the POST), keeps the session cookie, reads pages, and submits forms with
CakePHP's Security tokens taken from the form itself (`data[_Token][key]`, `data[_Token][fields]`, …),
parsed with a real HTML parser (selectolax). It rides on the very transport of the API client (same TLS
settings, same in-process sandbox), with its own cookie jar and without the API key.

The engine attaches credentials to a MispClient with `configure`; adapters ask for `session_for(client)`.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from reconciler.backend.client import USER_AGENT, MispClient
from reconciler.backend.errors import MispError, Refused, Rejected

LOGIN_PATH = "/users/login"
SANDBOX_EMAIL, SANDBOX_PASSWORD = "admin@admin.test", "admin"  # the sandbox's seeded site admin


class WebLoginMissing(Refused):
    """No web credentials for an instance whose pages need a browser session."""


@dataclass(frozen=True, slots=True)
class Credentials:
    email: str
    password: Callable[[], str]  # resolved at login only

    def __repr__(self) -> str:  # never the password
        return f"Credentials({self.email!r})"


_CREDENTIALS: weakref.WeakKeyDictionary[MispClient, Credentials] = weakref.WeakKeyDictionary()
_SESSIONS: weakref.WeakKeyDictionary[MispClient, WebSession] = weakref.WeakKeyDictionary()


def configure(client: MispClient, email: str | None, password: Callable[[], str] | None) -> None:
    """Web credentials for the instance `client` talks to (None: none; the web kinds will say so)."""
    if email and password is not None:
        _CREDENTIALS[client] = Credentials(email, password)
    else:
        _CREDENTIALS.pop(client, None)
    _SESSIONS.pop(client, None)


def configure_sandbox(client: MispClient) -> None:
    configure(client, SANDBOX_EMAIL, lambda: SANDBOX_PASSWORD)


def session_for(client: MispClient, why: str) -> WebSession:
    """The (lazily logged-in) web session of `client`; `why` names the kind, for the error message."""
    session = _SESSIONS.get(client)
    if session is not None:
        return session
    credentials = _CREDENTIALS.get(client)
    if credentials is None:
        raise WebLoginMissing(
            f"{why}: MISP only serves these pages to a logged-in browser and refuses API keys there. Set "
            "`instance.web_login: {email: <a site admin's e-mail>, password: <secret reference>}` in the "
            "manifests, or leave this kind out of the manifests (and out of --kind).")
    session = _SESSIONS[client] = WebSession(client, credentials)
    return session


def form_values(form: LexborNode) -> dict[str, str]:
    """Every named input of a form with its value, as a browser submits it (hidden tokens included)."""
    values: dict[str, str] = {}
    for node in form.css("input, textarea, select"):
        name = node.attributes.get("name")
        if not name:
            continue
        if node.tag == "input" and (node.attributes.get("type") or "").lower() in ("checkbox", "radio") \
                and "checked" not in node.attributes:
            continue
        if node.tag == "textarea":
            values[name] = node.text()
        elif node.tag == "select":
            chosen = node.css_first("option[selected]") or node.css_first("option")
            values[name] = (chosen.attributes.get("value") or "") if chosen is not None else ""
        else:
            values[name] = node.attributes.get("value") or ""
    return values


def page_message(page: str) -> str:
    """MISP's validation or flash messages on a re-rendered form, for the error."""
    tree = LexborHTMLParser(page)
    texts = [node.text(strip=True) for node in tree.css(".error-message, #flashMessage")]
    return "; ".join(t for t in texts if t) or "the form came back without saving"


class WebSession:
    def __init__(self, api: MispClient, credentials: Credentials) -> None:
        self._api = api
        self._credentials = credentials
        # The API client's transport (TLS, in-process sandbox); our own cookies, no API key.
        transport = api._http._transport
        self._http = httpx.AsyncClient(base_url=api.base_url, transport=transport, follow_redirects=False,
                                       timeout=api._http.timeout, headers={"User-Agent": USER_AGENT})
        self._lock = asyncio.Lock()
        self._logged_in = False

    def __repr__(self) -> str:
        return f"WebSession({self._api.base_url!r}, {self._credentials.email!r})"

    async def _send(self, method: str, path: str, data: Mapping[str, str] | None = None,
                    headers: Mapping[str, str] | None = None) -> httpx.Response:
        request_id = str(uuid.uuid4())
        started = asyncio.get_running_loop().time()
        try:
            response = await self._http.request(method, path, data=data,
                                                headers={**(headers or {}), "X-Request-Id": request_id})
        except httpx.TransportError as exc:
            self._api._record(method, path, None, request_id, started)
            raise MispError(f"no answer from MISP's web page {method} {path} ({exc.__class__.__name__})") from None
        self._api._record(method, path, response.status_code, request_id, started)
        return response

    async def login(self) -> None:
        async with self._lock:
            if self._logged_in:
                return
            page = await self._send("GET", LOGIN_PATH)
            form = LexborHTMLParser(page.text).css_first("form#UserLoginForm") \
                or LexborHTMLParser(page.text).css_first(f'form[action$="{LOGIN_PATH}"]')
            if form is None:
                raise MispError(f"MISP's login page ({LOGIN_PATH}) has no login form (status {page.status_code})")
            values = form_values(form)
            values["data[User][email]"] = self._credentials.email
            values["data[User][password]"] = self._credentials.password()
            answer = await self._send("POST", form.attributes.get("action") or LOGIN_PATH, values)
            values.clear()  # the password does not outlive the request
            if answer.status_code != 302 or LOGIN_PATH in answer.headers.get("location", ""):
                raise Refused(f"MISP refused the web login of {self._credentials.email}: "
                              f"{page_message(answer.text) if answer.status_code == 200 else answer.status_code} "
                              "(check instance.web_login; the user must be an enabled site admin)")
            self._logged_in = True

    async def get(self, path: str) -> str:
        """The HTML of a page; logs in first (and again once, when the session expired)."""
        for attempt in (1, 2):
            await self.login()
            response = await self._send("GET", path)
            if response.status_code == 302 and LOGIN_PATH in response.headers.get("location", ""):
                self._logged_in = False
                if attempt == 1:
                    continue
                raise Refused(f"MISP sends the web session back to its login page for {path}")
            if response.status_code == 403:
                raise Refused(f"MISP refused {path} to {self._credentials.email}: a site admin is needed")
            if response.status_code != 200:
                raise Rejected("GET", path, response.status_code, {"message": page_message(response.text)})
            return response.text
        raise AssertionError("unreachable")

    async def submit(self, page_path: str, selector: str, values: Mapping[str, str] | None = None,
                     ) -> httpx.Response:
        """GET `page_path`, fill the form `selector` with `values` (its hidden token inputs kept as they
        are), POST it to the form's action. MISP answers a successful save with a 302; a form re-rendered
        with 200 means it refused, and its messages become the error."""
        page = await self.get(page_path)
        form = LexborHTMLParser(page).css_first(selector)
        if form is None:
            raise MispError(f"MISP's page {page_path} has no form {selector}")
        action = form.attributes.get("action") or page_path
        response = await self._send("POST", action, {**form_values(form), **(values or {})})
        if response.status_code == 302 and LOGIN_PATH not in response.headers.get("location", ""):
            return response
        detail = page_message(response.text) if response.status_code in (200, 400) else response.reason_phrase
        raise Rejected("POST", action, response.status_code, {"message": detail})

    async def ajax(self, path: str, values: Mapping[str, str] | None = None) -> dict[str, object]:
        """POST to one of MISP's AJAX-only endpoints (`X-Requested-With: XMLHttpRequest`, e.g. template
        elements) and return its legacy `{saved, success|errors}` answer. When MISP serves a form at `path`
        to an AJAX GET (its popup), that form's hidden token inputs are sent along; otherwise the values
        alone. `saved: false`, or an `errors` key (MISP's element delete answers `saved: true` with errors),
        becomes Rejected."""
        ajax = {"X-Requested-With": "XMLHttpRequest"}
        await self.login()
        tokens: dict[str, str] = {}
        form_page = await self._send("GET", path, headers=ajax)
        if form_page.status_code == 200:
            form = LexborHTMLParser(form_page.text).css_first("form")
            if form is not None:
                tokens = form_values(form)
        response = await self._send("POST", path, {**tokens, **(values or {})}, headers=ajax)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("saved") \
                or answer.get("errors"):
            detail = answer.get("errors") or answer.get("name") if isinstance(answer, dict) else None
            raise Rejected("POST", path, response.status_code, {"message": str(detail or response.reason_phrase)})
        return answer

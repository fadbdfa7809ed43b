"""The browser side of MISP: login/logout, session cookie, and CakePHP's Security component (CSRF).

Some admin pages (allowedlist, templates) only work for a logged-in browser: MISP refuses API keys there.
Every form page issues a fresh one-time token (`data[_Token][key]`) and a signature of the form's action
and field names (`data[_Token][fields]`); a POST whose token is unknown, used or expired, or whose field
names differ from the ones the form was rendered with, is black-holed with a 400, as CakePHP 2 does.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sqlalchemy import update
from starlette.responses import Response

from reconciler.sandbox.http import HTML_TYPE, Ctx, MispAbort, route, verify_password
from reconciler.sandbox.schema import METADATA
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

COOKIE = "MISP-sandbox"
TOKEN_LIFETIME = 30 * 60  # CakePHP's csrfExpires default, '+30 minutes'
MAX_TOKENS = 50  # tokens kept per session (CakePHP keeps a bounded list too)
TOKEN_KEY, TOKEN_FIELDS, TOKEN_UNLOCKED = "data[_Token][key]", "data[_Token][fields]", "data[_Token][unlocked]"
BLACK_HOLED = "The request has been black-holed"
LOGIN_FIELDS = ("data[User][email]", "data[User][password]")
BAD_LOGIN = "Invalid username or password, try again"


def on_create(state: SandboxState) -> None:
    """Called for every app (new or re-opened database): the session finder and the signing secret."""
    state.extra["web_session"] = find_session_user
    state.extra["csrf_secret"] = secrets.token_hex(32)


# -- sessions ---------------------------------------------------------------------------------------
def _session(ctx: Ctx) -> Row | None:
    sid = getattr(ctx.request.state, "session_id", None) or ctx.request.cookies.get(COOKIE)
    return ctx.store.first("sandbox_sessions", id=sid) if sid else None


def _open_session(ctx: Ctx, user_id: int = 0) -> Row:
    """A new session (CakePHP starts one for the login form already); its cookie is set by `page`."""
    sid = secrets.token_hex(32)
    row: Row = {"id": sid, "user_id": user_id, "tokens": "{}"}
    ctx.store.insert_many("sandbox_sessions", [row])  # insert() reads back by integer id; ours is text
    ctx.request.state.session_id = sid
    return row


def find_session_user(ctx: Ctx) -> Row | None:
    """The enabled user of the request's session cookie (also sets ctx.user/ctx.role for logging)."""
    session = _session(ctx)
    if session is None or not session["user_id"]:
        return None
    user = ctx.store.get("users", session["user_id"])
    if user is None or user["disabled"]:
        return None
    ctx.user, ctx.role = user, ctx.store.get("roles", user["role_id"])
    return user


# -- CSRF -------------------------------------------------------------------------------------------
def _signature(ctx: Ctx, action: str, names: Iterable[str]) -> str:
    secret = ctx.app_state.extra["csrf_secret"].encode()
    text = action + "|" + ",".join(sorted(set(names)))
    return hmac.new(secret, text.encode(), hashlib.sha1).hexdigest() + "%3A"  # "hash:locked", url-encoded


def token_inputs(ctx: Ctx, action: str, names: Iterable[str]) -> tuple[str, str]:
    """The hidden inputs CakePHP puts at the start and at the end of a form: (head, tail)."""
    key = _request_key(ctx)
    head = ('<div style="display:none;"><input type="hidden" name="_method" value="POST"/>'
            f'<input type="hidden" name="{TOKEN_KEY}" value="{key}" id="Token{key[:10]}"/></div>')
    tail = ('<div style="display:none;">'
            f'<input type="hidden" name="{TOKEN_FIELDS}" value="{_signature(ctx, action, names)}" '
            f'id="TokenFields{key[:10]}"/>'
            f'<input type="hidden" name="{TOKEN_UNLOCKED}" value="" id="TokenUnlocked{key[:10]}"/></div>')
    return head, tail


def _request_key(ctx: Ctx) -> str:
    """One key per page request, shared by every form of the page (an index has a delete form per row),
    as CakePHP issues it; using it on any of those forms spends it for all of them."""
    key: str | None = getattr(ctx.request.state, "csrf_key", None)
    if key is not None:
        return key
    session = _session(ctx) or _open_session(ctx)
    tokens: dict[str, float] = json.loads(session["tokens"] or "{}")
    key = secrets.token_hex(20)
    tokens[key] = time.time() + TOKEN_LIFETIME
    newest = dict(sorted(tokens.items(), key=lambda item: item[1])[-MAX_TOKENS:])
    ctx.store.conn.execute(_update_tokens(session["id"], newest))
    ctx.request.state.csrf_key = key
    return key


def _update_tokens(sid: str, tokens: dict[str, float]) -> Any:
    table = METADATA.tables["sandbox_sessions"]
    return update(table).where(table.c.id == sid).values(tokens=json.dumps(tokens))


def black_hole(ctx: Ctx) -> MispAbort:
    return MispAbort(page(ctx, BLACK_HOLED, f"<h2>{BLACK_HOLED}</h2>", status=400))


def posted_form(ctx: Ctx, action: str) -> dict[str, str]:
    """The fields of a form POST after the Security component's checks; the token is used up."""
    form = {name: values[-1] for name, values in
            parse_qs(ctx.body_bytes.decode("utf-8", "replace"), keep_blank_values=True).items()}
    session = _session(ctx)
    tokens: dict[str, float] = json.loads(session["tokens"] or "{}") if session else {}
    key = form.get(TOKEN_KEY, "")
    if session is None or tokens.get(key, 0) < time.time():
        raise black_hole(ctx)
    names = [n for n in form if not n.startswith("data[_Token]") and n != "_method"]
    if not hmac.compare_digest(form.get(TOKEN_FIELDS, ""), _signature(ctx, action, names)):
        raise black_hole(ctx)
    del tokens[key]  # csrfUseOnce: a replayed form is black-holed
    ctx.store.conn.execute(_update_tokens(session["id"], tokens))
    return {n: form[n] for n in names}


# -- pages ------------------------------------------------------------------------------------------
def page(ctx: Ctx, title: str, body: str, status: int = 200, *, layout: bool = True) -> Response:
    """A MISP-like HTML page; sets the session cookie when this request opened a session. Without a layout,
    the body alone: the fragments MISP's AJAX views render with `$this->layout = false`."""
    text = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>MISP: {html.escape(title)}</title>'
            f'</head><body><div id="main">{body}</div></body></html>') if layout else body
    response = Response(text, status_code=status, media_type=None, headers={"content-type": HTML_TYPE})
    sid = getattr(ctx.request.state, "session_id", None)
    if sid:
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
    return response


def redirect(ctx: Ctx, path: str) -> Response:
    response = Response("", status_code=302, media_type=None, headers={
        "location": f"{ctx.app_state.base_url}{path}", "content-type": HTML_TYPE})
    sid = getattr(ctx.request.state, "session_id", None)
    if sid:
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
    return response


def flash(message: str) -> str:
    return f'<div class="alert alert-error" id="flashMessage">{html.escape(message)}</div>'


def _login_page(ctx: Ctx, message: str = "", email: str = "") -> Response:
    head, tail = token_inputs(ctx, "/users/login", LOGIN_FIELDS)
    body = (f'{flash(message) if message else ""}'
            '<form action="/users/login" id="UserLoginForm" method="post" accept-charset="utf-8">'
            f'{head}<legend>Login</legend>'
            '<div class="input email required"><label for="UserEmail">Email</label>'
            f'<input name="data[User][email]" autocomplete="off" type="email" value="{html.escape(email)}" '
            'id="UserEmail" required="required"/></div>'
            '<div class="input password required"><label for="UserPassword">Password</label>'
            '<input name="data[User][password]" autocomplete="off" type="password" id="UserPassword" '
            'required="required"/></div>'
            f'<button class="btn btn-primary" type="submit">Login</button>{tail}</form>')
    return page(ctx, "Login", body)


@route("/users/login", methods=("GET", "POST"), access="public", wrong_method=None)
def login(ctx: Ctx) -> Response:
    if ctx.method != "POST":
        return _login_page(ctx)
    form = posted_form(ctx, "/users/login")
    email = form.get("data[User][email]", "").strip()
    user = ctx.store.find_ci("users", "email", email) if email else None
    if user is None or not verify_password(form.get("data[User][password]", ""), user.get("password")) \
            or user["disabled"]:
        return _login_page(ctx, BAD_LOGIN, email)
    old = _session(ctx)
    if old is not None:  # a new session id on login: a pre-login cookie cannot be fixated
        ctx.store.delete("sandbox_sessions", id=old["id"])
    _open_session(ctx, int(user["id"]))
    ctx.user = user
    ctx.log("User", user["id"], "login", f"User ({user['id']}): {user['email']}")
    return redirect(ctx, "/")


@route("/users/logout", methods=("GET", "POST"), access="public", wrong_method=None)
def logout(ctx: Ctx) -> Response:
    session = _session(ctx)
    if session is not None:
        ctx.store.delete("sandbox_sessions", id=session["id"])
    response = redirect(ctx, "/users/login")
    response.delete_cookie(COOKIE, path="/")
    return response


def require_site_admin(ctx: Ctx) -> None:
    """Web pages of site-admin controllers: another user gets MISP's 403 page."""
    if not ctx.is_site_admin:
        message = "You do not have permission to use this functionality."
        raise MispAbort(page(ctx, "Forbidden", f"<h2>{message}</h2>", status=403))

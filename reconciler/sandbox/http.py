"""CakePHP-style routing, authentication and MISP's response shapes.

MISP routes `/[admin/]controller/action/arg1/arg2/name:value`; a `.json` suffix or an `Accept` asking for
JSON makes it an API call (transcript auth--no-or-invalid-key). Resources register handlers with `@route`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from reconciler.sandbox.store import Row, Store

JSON_TYPE = "application/json; charset=UTF-8"
HTML_TYPE = "text/html; charset=UTF-8"
AUTH_FAILED = ("Authentication failed. Please make sure you pass the API key of an API enabled user along "
               "in the Authorization header.")
NO_PERMISSION = "You do not have permission to use this functionality."
INVALID_JSON = ("Invalid JSON input. Make sure that the JSON input is a correctly formatted JSON string. "
                "This request has been blocked to avoid an unfiltered request.")
INTERNAL_ERROR = "An Internal Error Has Occurred."
USER_DISABLED = "Authentication failed. Your user account has been disabled."
IP_REFUSED = "It is not possible to use this Auth key from your IP address"

# Who may call a handler: anyone authenticated, org admins (perm_admin), site admins only,
# or "web": a logged-in browser session only (MISP refuses API keys there); "web_or_user": a browser
# session for page requests, an API key (as "user") for API requests (templates serve both).
Access = Literal["user", "org_admin", "site_admin", "web", "web_or_user", "public"]


class UserDisabled(Exception):
    """The API key is valid but its user is disabled: answered 403 with its own message by the app."""


class MispAbort(Exception):
    """Raised by handlers to answer with a MISP error; the transaction is rolled back."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def misp_json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=None,
                    headers={"content-type": JSON_TYPE, **(headers or {})})


def error_body(message: str, url: str) -> dict[str, Any]:
    return {"name": message, "message": message, "url": url}


def misp_error(status: int, message: str, url: str) -> MispAbort:
    return MispAbort(misp_json(error_body(message, url), status))


def validation_error(message: str, url: str, errors: Any, status: int = 403) -> MispAbort:
    """MISP's failed save: {saved: false, name, message, url, errors}."""
    return MispAbort(misp_json({"saved": False, "name": message, "message": message, "url": url,
                                "errors": errors}, status))


def deleted(message: str, url: str, row_id: Any) -> Response:
    return misp_json({"saved": True, "success": True, "name": message, "message": message, "url": url,
                      "id": row_id})


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def now_epoch() -> int:
    return int(time.time())


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


PBKDF2_ROUNDS = 100_000  # enough to keep a leaked sandbox database from giving passwords away cheaply


def hash_password(password: str) -> str:
    """Salted PBKDF2-SHA256 as `pbkdf2_sha256$rounds$salt$hash` (MISP itself uses bcrypt; the format is ours)."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS).hex()
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt}${digest}"


def verify_password(password: str, stored: str | None) -> bool:
    try:
        scheme, rounds, salt, digest = (stored or "").split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds)).hex()
    return secrets.compare_digest(candidate, digest)


def generate_key() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(40))


@dataclass(slots=True)
class Ctx:
    """One request as a handler sees it."""

    request: Request
    store: Store
    app_state: Any  # SandboxState
    url: str  # the path as MISP echoes it in error bodies ("/admin/organisations/add")
    args: list[str]  # positional path segments after the action
    named: dict[str, str]  # CakePHP named parameters (scope:all)
    body_bytes: bytes
    user: Row | None = None
    role: Row | None = None
    authkey: Row | None = None
    request_id: str = ""
    _json: Any = field(default=None)
    _parsed: bool = False

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def json(self) -> Any:
        """The request body as JSON; MISP answers 405 to a body that does not parse."""
        if not self._parsed:
            self._parsed = True
            text = self.body_bytes.decode("utf-8", "replace").strip()
            if text:
                try:
                    self._json = json.loads(text)
                except ValueError as exc:
                    raise misp_error(405, INVALID_JSON, self.url) from exc
        return self._json

    def data(self, wrapper: str) -> dict[str, Any]:
        """The object in the body, with or without MISP's wrapper ({"Organisation": {...}})."""
        body = self.json()
        if body is None:
            raise misp_error(405, INVALID_JSON, self.url)
        if not isinstance(body, dict):
            return {}
        inner = body.get(wrapper)
        return dict(inner) if isinstance(inner, dict) else dict(body)

    def perm(self, flag: str) -> bool:
        return bool(self.role and self.role.get(flag))

    @property
    def is_site_admin(self) -> bool:
        return self.perm("perm_site_admin")

    @property
    def is_org_admin(self) -> bool:
        return self.perm("perm_admin") or self.is_site_admin

    def deny(self) -> MispAbort:
        return misp_error(403, NO_PERMISSION, self.url)

    def not_found(self, message: str) -> MispAbort:
        return misp_error(404, message, self.url)

    def log(self, model: str, model_id: Any, action: str, title: str, change: str = "") -> None:
        """Write MISP's application log row and its audit log row (with our X-Request-Id)."""
        user = self.user or {}
        org = self.store.get("organisations", user["org_id"]) if user.get("org_id") else None
        ip = self.request.client.host if self.request.client else ""
        self.store.insert("logs", {
            "title": title, "created": now_text(), "model": model, "model_id": int(model_id or 0),
            "action": action, "user_id": int(user.get("id") or 0), "change": change,
            # MISP fills logs.ip only with MISP.log_client_ip, off by default (logs--org-lifecycle: "ip": "")
            "email": user.get("email", ""), "org": org["name"] if org else "", "ip": "",
            "description": log_description(model, model_id, action, title, user),
        })
        self.store.insert("audit_logs", {
            "created": now_text(), "user_id": int(user.get("id") or 0),
            "org_id": int(user.get("org_id") or 0),
            "authkey_id": int(self.authkey["id"]) if self.authkey else None, "ip": ip,
            "request_type": 1, "request_id": self.request_id or None, "action": action, "model": model,
            "model_id": int(model_id or 0), "model_title": title, "change": change.encode(),
        })


LOG_VERBS = {"add": "added", "edit": "updated", "delete": "deleted"}


def log_description(model: str, model_id: Any, action: str, title: str, user: Mapping[str, Any]) -> str:
    """MISP's Log.description (transcript logs--org-lifecycle: 'Organisation "Ref Org" (141) added by User
    "admin@admin.test" (1).'; a title without a display field, 'AdminSetting (10)', is not quoted; a title
    'User (83): email' quotes the part after the colon). The request id goes to audit_logs, not here.
    Other actions (login, …) are written by MISP's extralog without a description."""
    if action not in LOG_VERBS:
        return ""
    prefix = f"{model} ({model_id})"
    name = title.split(": ", 1)[1] if title.startswith(prefix + ": ") else title
    subject = prefix if name in ("", prefix) else f'{model} "{name}" ({model_id})'
    who = f'User "{user.get("email") or "SYSTEM"}" ({int(user.get("id") or 0)})'
    return f"{subject} {LOG_VERBS.get(action, action)} by {who}."


# Never written into a log's change text (MISP's Logable skips them; our logs must not hold secrets).
SECRET_FIELDS = frozenset({"password", "authkey", "authkey_raw", "totp", "confirm_password"})


def _log_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def change_text(before: Mapping[str, Any], after: Mapping[str, Any], fields: Iterable[str]) -> str:
    """MISP's log `change` column: `field (old) => (new)` for each changed field, in save order
    (transcript logs--org-lifecycle: "description (for log test) => (edited for log test), ...")."""
    parts = []
    for name in fields:
        old, new = _log_value(before.get(name)), _log_value(after.get(name))
        if name not in SECRET_FIELDS and old != new:
            parts.append(f"{name} ({old}) => ({new})")
    return ", ".join(parts)


Handler = Callable[[Ctx], Response | Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    methods: tuple[str, ...]
    access: Access
    # MISP answers a wrong method on write actions with 405 "post or delete request expected";
    # None lets the handler see every method (add actions describe themselves on GET).
    wrong_method_message: str | None
    # Handlers run inside one database transaction and must not await inside it: concurrent requests
    # share the event loop. A handler that awaits (a connection test calling another MISP) says
    # transactional=False and opens `ctx.store.transaction()` around its synchronous parts itself.
    transactional: bool = True


ROUTES: dict[str, Route] = {}

POST_EXPECTED = "Action not allowed, post or delete request expected."


def route(path: str, *, methods: tuple[str, ...] = ("GET",), access: Access = "site_admin",
          wrong_method: str | None = POST_EXPECTED, transactional: bool = True,
          ) -> Callable[[Handler], Handler]:
    """Register a handler for a CakePHP path prefix: "/admin/organisations/add"."""

    def register(handler: Handler) -> Handler:
        key = path.rstrip("/")
        if key in ROUTES:
            raise ValueError(f"route {key} registered twice")
        ROUTES[key] = Route(handler, methods, access, wrong_method, transactional)
        return handler

    return register


@dataclass(frozen=True, slots=True)
class ParsedPath:
    key: str  # "/admin/organisations/add"
    args: list[str]
    named: dict[str, str]
    json_ext: bool


def parse_path(path: str) -> ParsedPath | None:
    """Split a MISP path into its route key, positional args and named params. None: no such route."""
    json_ext = path.endswith(".json")
    if json_ext:
        path = path[: -len(".json")]
    segments = [s for s in path.split("/") if s]
    # Longest registered prefix wins: /admin/users/view/me → key /admin/users/view, args [me].
    for length in range(min(len(segments), 4), 0, -1):
        key = "/" + "/".join(segments[:length])
        if key in ROUTES:
            rest = segments[length:]
            args = [s for s in rest if ":" not in s]
            named = dict(s.split(":", 1) for s in rest if ":" in s)
            return ParsedPath(key, args, named, json_ext)
    # A controller with no action means its index (/admin/users → /admin/users/index).
    if segments:
        key = "/" + "/".join([*segments, "index"])
        if key in ROUTES:
            return ParsedPath(key, [], {}, json_ext)
    return None


def wants_json(request: Request, json_ext: bool) -> bool:
    accept = request.headers.get("accept", "")
    return json_ext or any(part.split(";")[0].strip() == "application/json" for part in accept.split(","))


def authenticate(store: Store, header: str | None) -> tuple[Row, Row, Row] | None:
    """(user, role, authkey) for a valid key in the Authorization header, else None.

    MISP accepts a comma-separated list and uses the first valid key (transcript
    auth--no-or-invalid-key: "<unknown-40-char-key>,<admin-key>" is 200).
    """
    if not header:
        return None
    disabled = False
    for candidate in (c.strip() for c in header.split(",")):
        if len(candidate) != 40:
            continue
        for key in store.find("auth_keys", authkey_start=candidate[:4], authkey_end=candidate[-4:]):
            if key["authkey"] != hash_key(candidate):
                continue
            if key["expiration"] and int(key["expiration"]) < now_epoch():
                continue  # an expired key is simply not found (reference identity §1.1)
            user = store.get("users", key["user_id"])
            if user is None:
                continue
            if user["disabled"]:
                disabled = True
                continue
            role = store.get("roles", user["role_id"])
            if role is None or not role["perm_auth"]:  # a role without perm_auth makes every key invalid
                continue
            return user, read_only_role(role) if key["read_only"] else role, key
    if disabled:  # a valid key of a disabled user gets its own message (reference identity §1.1)
        raise UserDisabled
    return None


def read_only_role(role: Row) -> Row:
    """What a read-only key may do: MISP clears every perm_* flag of the role except perm_auth and
    perm_audit for the request (AuthKey::setUserData), so writes and admin pages answer 403."""
    return {name: 0 if name.startswith("perm_") and name not in ("perm_auth", "perm_audit") else value
            for name, value in role.items()}


def ip_allowed(allowed_ips: str | None, client: str | None) -> bool:
    """A key's allowed_ips (JSON list of IPs/CIDRs, null = anywhere) admits the caller's address."""
    if not allowed_ips:
        return True
    networks = json.loads(allowed_ips)
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)

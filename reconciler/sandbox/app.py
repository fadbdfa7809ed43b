"""The ASGI application: dispatch MISP paths to resource handlers, one transaction per request."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reconciler.sandbox import resources
from reconciler.sandbox.faults import Faults, drop_connection
from reconciler.sandbox.http import (
    AUTH_FAILED,
    HTML_TYPE,
    INTERNAL_ERROR,
    IP_REFUSED,
    ROUTES,
    USER_DISABLED,
    Ctx,
    MispAbort,
    UserDisabled,
    error_body,
    ip_allowed,
    misp_json,
    parse_path,
    wants_json,
)
from reconciler.sandbox.store import Store, make_engine

DEFAULT_ADMIN_KEY = "sandboxAdminKey0000000000000000000000000"  # 40 chars, like a MISP key
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclass(slots=True)
class SandboxState:
    store: Store
    admin_key: str
    base_url: str
    faults: Faults = field(default_factory=Faults)
    extra: dict[str, Any] = field(default_factory=dict)  # per-resource runtime state


class SandboxApp:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to set up, nothing served
            if scope["type"] == "lifespan":
                message = await receive()
                while message["type"] != "lifespan.shutdown":
                    await send({"type": message["type"] + ".complete"})
                    message = await receive()
                await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        decision = self.state.faults.decide(request.method, request.url.path)
        await self.state.faults.sleep(decision)
        if decision.drop_before:
            await drop_connection(send, request.url.path)
        if decision.status is not None:
            response: Response = misp_json(error_body(INTERNAL_ERROR, request.url.path), decision.status)
        else:
            response = await self.handle(request)
        if decision.drop_after:
            await drop_connection(send, request.url.path)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        parsed = parse_path(path)
        body = await request.body()
        is_api = wants_json(request, parsed.json_ext if parsed else path.endswith(".json"))
        if parsed is None:
            if not is_api:
                return self.to_login()
            return misp_json(error_body("Not Found", path), 404)
        target = ROUTES[parsed.key]
        url = path[: -len(".json")] if parsed.json_ext else path
        ctx = Ctx(request=request, store=self.state.store, app_state=self.state, url=url,
                  args=parsed.args, named=parsed.named, body_bytes=body,
                  request_id=request.headers.get("x-request-id", ""))
        try:
            with self.state.store.transaction():
                refusal = self.check_access(ctx, target.access, is_api)
                if refusal is not None:
                    return refusal
                wrong_method = bool(target.methods) and request.method not in target.methods
                if wrong_method and target.wrong_method_message is not None:
                    return misp_json(error_body(target.wrong_method_message, url), 405)
                if target.transactional:
                    result = target.handler(ctx)
                    assert not inspect.isawaitable(result), "transactional handlers are synchronous"
                    return result
            result = target.handler(ctx)
            return await result if inspect.isawaitable(result) else result
        except MispAbort as abort:
            return abort.response

    def check_access(self, ctx: Ctx, access: str, is_api: bool) -> Response | None:
        """None when the caller may go on; otherwise MISP's answer (302 to login, 403)."""
        if access == "public":
            return None
        if access == "web" or (access == "web_or_user" and not is_api):
            return None if resources.web_session(ctx) is not None else self.to_login()
        if not is_api:
            return self.to_login()
        headers = ctx.request.headers
        try:
            found = resources.authenticate_request(ctx, headers.get("authorization") or headers.get("x-misp-auth"))
        except UserDisabled:
            return misp_json(error_body(USER_DISABLED, ctx.url), 403)
        if found is None:
            ajax = headers.get("x-requested-with") == "XMLHttpRequest"
            return misp_json(error_body("Authentication failed." if ajax else AUTH_FAILED, ctx.url), 403)
        client = ctx.request.client.host if ctx.request.client else None
        if ctx.authkey is not None and not ip_allowed(ctx.authkey.get("allowed_ips"), client):
            return misp_json(error_body(IP_REFUSED, ctx.url), 403)
        if access == "site_admin" and not ctx.is_site_admin:
            raise ctx.deny()
        if access == "org_admin" and not ctx.is_org_admin:
            raise ctx.deny()
        return None

    def to_login(self) -> Response:
        return Response("", status_code=302, media_type=None, headers={
            "location": f"{self.state.base_url}/users/login", "content-type": HTML_TYPE})


def create_app(db_url: str = "sqlite://", *, admin_key: str = DEFAULT_ADMIN_KEY,
               base_url: str = DEFAULT_BASE_URL, faults: Faults | None = None) -> SandboxApp:
    """A fresh (or re-opened) sandbox MISP. `db_url` is any SQLAlchemy URL; default in-memory SQLite."""
    if len(admin_key) != 40:
        raise ValueError("a MISP API key is 40 characters long")
    store = Store(make_engine(db_url))
    state = SandboxState(store=store, admin_key=admin_key, base_url=base_url, faults=faults or Faults())
    with store.transaction():
        resources.seed(state)
    resources.on_create(state)
    return SandboxApp(state)

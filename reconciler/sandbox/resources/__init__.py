"""Resource modules of the sandbox, one per MISP controller family.

Each module registers its handlers with `@route` on import and may define `seed(state)`, called once when
a new database is created, in the order of MODULES (organisations and roles before users, …).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.http import Ctx, authenticate

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

# Order matters for seeding only.
MODULE_NAMES = (
    "identity",  # host org, default roles, site admin and its key (the fresh-install rows)
    "instance",  # getVersion, diagnostics
    "organisations",
    "roles",
    "users",
    "auth_keys",
    "tags",
    "settings",
    "taxonomies",
    "sharing_groups",
    "blocklists",
    "feeds",
    "servers",
    "workers",  # tasks, jobs, workers (background jobs off) and the sandbox-only schedules
    "logs",
    "regexp",
    "web",
    "allowedlist",
    "templates",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"reconciler.sandbox.resources.{name}") for name in MODULE_NAMES]


MODULES = _modules()


def seed(state: SandboxState) -> None:
    store = state.store
    if store.count("users") > 0:  # an existing database: already seeded
        return
    for module in MODULES:
        seeder = getattr(module, "seed", None)
        if seeder is not None:
            seeder(state)


def on_create(state: SandboxState) -> None:
    """Called for every app, new or re-opened database (unlike seed): runtime hooks such as the web-session
    finder. A module opts in by defining `on_create(state)`."""
    for module in MODULES:
        hook = getattr(module, "on_create", None)
        if hook is not None:
            hook(state)


def authenticate_request(ctx: Ctx, header: str | None) -> Any:
    found = authenticate(ctx.store, header)
    if found is None:
        return None
    ctx.user, ctx.role, ctx.authkey = found
    return found


def web_session(ctx: Ctx) -> Any:
    """The logged-in browser session of this request (cookie), or None. Set by the web-login module."""
    finder = ctx.app_state.extra.get("web_session")
    return finder(ctx) if finder else None

"""Read live state: one list request per kind in scope, concurrently, then parse in dependency order.

Parsing needs other kinds (a user's org_id becomes the org's name), so every kind a kind in scope refers to
is read too. Two requests besides the lists: /users/view/me (who we are, for self-lockout checks) and
/servers/getVersion (instance uuid for lineage, version for `instance.requires`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.backend.client import MispClient
from reconciler.engine.bulk import gc_paused
from reconciler.engine.live import Live, Me
from reconciler.kinds import KINDS, kind_named
from reconciler.kinds._kind import Kind

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired


def kinds_in_scope(names: Iterable[str]) -> list[Kind]:
    """The kinds named plus, transitively, the kinds they reference; in dependency order."""
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        pending.extend(set(kind_named(name).refs.values()) - wanted)
    return [kind for kind in KINDS if kind.name in wanted]


def served(kinds: Iterable[Kind], client: MispClient) -> list[Kind]:
    """The kinds this target keeps. A sandbox-only kind (schedules: MISP has no API for cron) is read and
    applied on the embedded sandbox only; for a real MISP it is left out of plan, apply, drift and export."""
    from reconciler.engine.targets import SANDBOX_URL

    return [kind for kind in kinds if not kind.sandbox_only or client.base_url == SANDBOX_URL]


async def read_identity(client: MispClient, live: Live) -> None:
    me, version = await asyncio.gather(client.get("/users/view/me"), client.get("/servers/getVersion"))
    user = me.get("User", {}) if isinstance(me, dict) else {}
    live.me = Me(user_id=str(user.get("id", "")), email=str(user.get("email", "")),
                 org_id=str(user.get("org_id", "")), role_id=str(user.get("role_id", "")))
    if isinstance(version, dict):
        live.misp_version = str(version.get("version") or "") or None
        uuid = version.get("uuid")
        live.misp_uuid = str(uuid) if uuid and uuid != "-" else None


async def read_live(client: MispClient, kinds: Sequence[Kind], desired: Desired | None = None) -> Live:
    live = Live()
    readable = [kind for kind in kinds if kind.adapter is not None]

    def declared(kind: Kind) -> dict[str, Any]:
        entries = desired.entries.get(kind.name, {}) if desired is not None else {}
        return {key: located.entry for key, located in entries.items()}

    results: list[Any] = await asyncio.gather(
        read_identity(client, live),
        *(kind.adapter.fetch(client, declared(kind)) for kind in readable if kind.adapter))
    with gc_paused():  # every row becomes a live object kept until the plan is done (see bulk.py)
        for kind, rows in zip(readable, results[1:], strict=True):
            assert kind.adapter is not None
            for raw in rows:
                obj = kind.adapter.parse(raw, live)
                if obj is not None:
                    live.put(kind.name, obj)
    return live

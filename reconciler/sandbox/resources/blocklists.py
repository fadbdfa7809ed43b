"""Organisation and event blocklists (transcripts org_blocklists--crud, event_blocklists--crud).

Both are one shape with other column names: entries by uuid, added in bulk (`uuids`), edited and deleted by
id or uuid. MISP ships two example org blocklist rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_json, now_text, route
from reconciler.sandbox.resources.organisations import UUID_RE
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState


@dataclass(frozen=True)
class Blocklist:
    table: str  # org_blocklists | event_blocklists
    wrapper: str  # OrgBlocklist | EventBlocklist
    uuid_column: str  # org_uuid | event_uuid
    text_columns: tuple[str, ...]

    def as_json(self, row: Row) -> dict[str, Any]:
        body = {"id": str(row["id"]), self.uuid_column: row[self.uuid_column], "created": row["created"]}
        body.update({name: row[name] for name in self.text_columns})
        if self.table == "org_blocklists":
            body["blocked_data"] = {"blocked_amount": False, "blocked_last_time": False}
        return body


ORGS = Blocklist("org_blocklists", "OrgBlocklist", "org_uuid", ("org_name", "comment"))
EVENTS = Blocklist("event_blocklists", "EventBlocklist", "event_uuid", ("event_info", "comment", "event_orgc"))


def seed(state: SandboxState) -> None:
    now = now_text()
    state.store.insert_many("org_blocklists", [
        {"org_uuid": "58d38339-7b24-4386-b4b4-4c0f950d210f", "created": now, "org_name": "Setec Astrononomy",
         "comment": "default example"},
        {"org_uuid": "58d38326-eda8-443a-9fa8-4e12950d210f", "created": now, "org_name": "Acme Finance",
         "comment": "default example"}])


def find(ctx: Ctx, kind: Blocklist, ident: str) -> Row | None:
    if ident.isdigit():
        return ctx.store.get(kind.table, int(ident))
    return ctx.store.first(kind.table, **{kind.uuid_column: ident.lower()})


def index(ctx: Ctx, kind: Blocklist) -> Response:
    rows = ctx.store.all(kind.table)
    wanted = ctx.named.get(kind.uuid_column)
    if wanted:
        rows = [r for r in rows if r[kind.uuid_column] == wanted.lower()]
    return misp_json([kind.as_json(r) for r in rows])


def add(ctx: Ctx, kind: Blocklist) -> Response:
    data = ctx.data(kind.wrapper)
    uuids = data.get("uuids") or []
    uuids = [uuids] if isinstance(uuids, str) else list(uuids)
    successes, fails = [], []
    for uuid in uuids:
        text = str(uuid).lower()
        if not UUID_RE.match(text) or ctx.store.first(kind.table, **{kind.uuid_column: text}) is not None:
            fails.append(uuid)
            continue
        values = {name: data.get(name) for name in kind.text_columns}
        row = ctx.store.insert(kind.table, {kind.uuid_column: text, "created": now_text(), **values})
        ctx.log(kind.wrapper, row["id"], "add", f"{kind.wrapper} ({row['id']}): {text}")
        successes.append(uuid)
    return misp_json({"result": {"successes": successes, "fails": fails},
                      "message": f"Done. Added {len(successes)} new entries to the blocklist. "
                                 f"{len(fails)} entries could not be saved."})


def edit(ctx: Ctx, kind: Blocklist) -> Response:
    row = find(ctx, kind, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Invalid blocklist entry")
    data = ctx.data(kind.wrapper)
    updated = ctx.store.update(kind.table, row["id"], {k: data[k] for k in kind.text_columns if k in data})
    ctx.log(kind.wrapper, row["id"], "edit", f"{kind.wrapper} ({row['id']}): {row[kind.uuid_column]}")
    return misp_json({kind.wrapper: kind.as_json(updated)})


def delete(ctx: Ctx, kind: Blocklist) -> Response:
    row = find(ctx, kind, ctx.args[0]) if ctx.args else None
    if row is None:
        raise ctx.not_found("Invalid blocklist entry")
    ctx.store.delete(kind.table, id=row["id"])
    ctx.log(kind.wrapper, row["id"], "delete", f"{kind.wrapper} ({row['id']}): {row[kind.uuid_column]}")
    return misp_json({"saved": True, "success": True, "name": "Blocklist entry removed",
                      "message": "Blocklist entry removed", "url": ctx.url, "id": ctx.args[0]})


def register(kind: Blocklist, prefix: str) -> None:
    route(f"{prefix}/index")(partial(index, kind=kind))
    route(f"{prefix}/add", methods=("POST",))(partial(add, kind=kind))
    route(f"{prefix}/edit", methods=("POST", "PUT"))(partial(edit, kind=kind))
    route(f"{prefix}/delete", methods=("POST", "DELETE"))(partial(delete, kind=kind))


register(ORGS, "/org_blocklists")
register(EVENTS, "/event_blocklists")

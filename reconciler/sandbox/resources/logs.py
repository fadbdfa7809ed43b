"""Application logs and audit logs (transcripts logs--org-lifecycle, auth--org-admin-refusals #45-46).

Filters come as CakePHP named params (`/model:Organisation/model_id:141/limit:2`), query params, or a
POSTed JSON body; values may be lists (OR). Pages are cut in SQL (LIMIT/OFFSET): a log table grows
without bound, so no request ever loads it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, Select, Table, select
from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_error, misp_json, route
from reconciler.sandbox.schema import METADATA

DEFAULT_LIMIT = 60  # CakePHP paginator default MISP keeps for the log index
MAX_LIMIT = 1000
NO_FILTER = "Either specify the search terms in the url, or POST a json with the filter parameters."
LOG_FILTERS = ("id", "title", "model", "model_id", "action", "user_id", "email", "org", "ip")
AUDIT_FILTERS = ("id", "model", "model_id", "action", "user_id", "org_id", "authkey_id", "request_id",
                 "request_type", "ip", "model_title")
LOG_FIELDS = ("id", "title", "created", "model", "model_id", "action", "user_id", "change", "email", "org",
              "description", "ip")


def _filters(ctx: Ctx, error_url: str) -> dict[str, Any]:
    """Named params, then query params, then a POSTed body (MISP refuses a POST with an empty body)."""
    found: dict[str, Any] = {**ctx.query, **ctx.named}
    if ctx.method == "POST":
        body = ctx.json()
        if not isinstance(body, dict) or not body:
            # transcript logs--org-lifecycle #8: 400 whose url names the controller action, not the path
            raise misp_error(400, NO_FILTER, error_url)
        found.update(body)
    return found


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _where(query: Select[Any], table: Table, filters: Mapping[str, Any], names: tuple[str, ...]) -> Select[Any]:
    for name in names:
        if name in filters and filters[name] not in (None, ""):
            column = table.c[name]
            values = _as_list(filters[name])
            if isinstance(column.type, Integer):  # a non-numeric id matches nothing, as in MySQL
                query = query.where(column.in_([int(v) for v in values if v.lstrip("-").isdigit()]))
            else:
                query = query.where(column.in_(values))
    # created ranges: `from`/`to` (MISP's search keys) as "YYYY-MM-DD[ HH:MM:SS]" text, compared as text
    if filters.get("from"):
        query = query.where(table.c.created >= str(filters["from"]))
    if filters.get("to"):
        to = str(filters["to"])
        query = query.where(table.c.created <= (to + " 23:59:59" if len(to) == 10 else to))
    return query


def _page(query: Select[Any], table: Table, filters: Mapping[str, Any], error_url: str) -> Select[Any]:
    try:
        limit = min(int(filters.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        page = max(int(filters.get("page", 1)), 1)
    except (TypeError, ValueError) as exc:
        raise misp_error(400, "Invalid limit or page.", error_url) from exc
    # No explicit order in MISP's query: MySQL gives primary-key order, oldest first (logs--org-lifecycle #6).
    return query.order_by(table.c.id).limit(max(limit, 1)).offset((page - 1) * max(limit, 1))


def _scope(ctx: Ctx, query: Select[Any], table: Table, admin_path: bool) -> Select[Any]:
    """Site admins see everything; org admins their org's rows on the admin path; others their own."""
    user = ctx.user or {}
    if ctx.is_site_admin:
        return query
    if admin_path and ctx.is_org_admin:
        if table.name == "logs":
            org = ctx.store.get("organisations", user.get("org_id") or 0)
            return query.where(table.c.org == (org["name"] if org else ""))
        return query.where(table.c.org_id == int(user.get("org_id") or 0))
    if table.name == "logs":
        return query.where(table.c.email == user.get("email", ""))
    return query.where(table.c.user_id == int(user.get("id") or 0))


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def log_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"Log": {name: _text(row[name]) if name in ("id", "model_id", "user_id") else row[name] or ""
                    for name in LOG_FIELDS}}


def audit_json(row: Mapping[str, Any]) -> dict[str, Any]:
    change = row["change"]
    body = {name: _text(row[name]) for name in ("id", "created", "user_id", "org_id", "authkey_id", "ip",
                                                  "request_type", "request_id", "action", "model", "model_id",
                                                  "model_title", "event_id")}
    body["change"] = change.decode("utf-8", "replace") if isinstance(change, bytes) else change
    return {"AuditLog": body}


def _index(ctx: Ctx, table_name: str, admin_path: bool, error_url: str) -> Response:
    table = METADATA.tables[table_name]
    filters = _filters(ctx, error_url)
    names = LOG_FILTERS if table_name == "logs" else AUDIT_FILTERS
    query = _page(_where(_scope(ctx, select(table), table, admin_path), table, filters, names),
                  table, filters, error_url)
    rows = ctx.store.conn.execute(query).mappings()
    render = log_json if table_name == "logs" else audit_json
    return misp_json([render(dict(row)) for row in rows])


@route("/admin/logs/index", methods=("GET", "POST"), access="org_admin", wrong_method=None)
def admin_logs(ctx: Ctx) -> Response:
    return _index(ctx, "logs", True, "/logs/admin_index")


@route("/logs/index", methods=("GET", "POST"), access="user", wrong_method=None)
def own_logs(ctx: Ctx) -> Response:
    return _index(ctx, "logs", False, "/logs/index")


@route("/admin/audit_logs/index", methods=("GET", "POST"), access="org_admin", wrong_method=None)
def admin_audit_logs(ctx: Ctx) -> Response:
    return _index(ctx, "audit_logs", True, "/audit_logs/admin_index")

"""Search MISP's application log (/admin/logs/index) and audit log (/admin/audit_logs/index), one page at a
time: the tables grow without bound, so filters and paging go to MISP (CakePHP named params), never a
download of everything.

`--run RUN_ID` links our runs to MISP's rows: every request we send carries an X-Request-Id, our audit
records keep the ids per object, and MISP writes the id into audit_logs.request_id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.state.audit import AuditRecord

LOGS = "/admin/logs/index"
AUDIT_LOGS = "/admin/audit_logs/index"
MAX_TEXT_SCAN_PAGES = 20  # --text is matched here, page by page: bounded, and said so when cut short
IDS_PER_REQUEST = 100  # request ids sent per audit-log query (a long run has thousands)


class LogQueryError(ValueError):
    """A filter MISP cannot take (a date that is not a date)."""


@dataclass(frozen=True, slots=True)
class LogQuery:
    model: str | None = None
    action: str | None = None
    email: str | None = None
    since: str | None = None  # ISO 8601
    until: str | None = None
    text: str | None = None
    page: int = 1
    limit: int = 50
    audit: bool = False  # audit_logs instead of logs
    user_id: str | None = None  # audit_logs know users by id only: the e-mail, looked up (user_id_for)

    def filters(self) -> dict[str, str]:
        found = {"model": self.model, "action": self.action, "from": misp_time(self.since),
                 "to": misp_time(self.until)}
        if self.email is not None and not self.audit:
            found["email"] = self.email
        if self.audit:
            # MISP 2.5's AuditLogsController takes `user` (an e-mail or id) and `created` (>=); the sandbox
            # reads user_id and from/to. Each ignores the other's names, so both are sent. (`until` has no
            # named-param form in MISP's audit index: there it narrows only the sandbox.)
            found["user"] = self.email
            found["user_id"] = self.user_id
            found["created"] = misp_time(self.since)
        return {name: value for name, value in found.items() if value}


@dataclass(slots=True)
class LogPage:
    rows: list[dict[str, Any]]  # the inner object of {"Log": {...}} / {"AuditLog": {...}}
    page: int
    limit: int
    has_more: bool
    notes: list[str] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)  # --run: application-log rows of these rows


def misp_time(value: str | None) -> str | None:
    """ISO 8601 → MISP's "YYYY-MM-DD HH:MM:SS". An aware time is taken to UTC (MISP hosts usually log in
    UTC); a bare date stays a date, which MISP reads as the whole day for `to`."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise LogQueryError(f"expected an ISO 8601 date or time, got {value!r}") from None
    if len(value) == 10:
        return moment.strftime("%Y-%m-%d")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def named_path(base: str, filters: Mapping[str, object]) -> str:
    """`/admin/logs/index/model:User/action:edit/limit:50/page:2`. A value holding "/" cannot be a named
    param (CakePHP splits the path on it), so it is refused rather than silently cut."""
    parts = [base]
    for name, value in filters.items():
        text = str(value)
        if "/" in text:
            raise LogQueryError(f"{name} {text!r}: a '/' cannot be sent as a CakePHP named parameter")
        parts.append(f"{name}:{quote(text, safe='@:.-_+')}")
    return "/".join(parts)


def unwrap(rows: Any) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        return []
    return [dict(row.get("Log") or row.get("AuditLog") or row) for row in rows if isinstance(row, dict)]


async def fetch_page(client: MispClient, query: LogQuery, page: int) -> list[dict[str, Any]]:
    filters = {**query.filters(), "limit": query.limit, "page": page}
    return unwrap(await client.get(named_path(AUDIT_LOGS if query.audit else LOGS, filters)))


def matches(row: Mapping[str, Any], text: str) -> bool:
    needle = text.casefold()
    return any(needle in str(row.get(name) or "").casefold()
               for name in ("title", "model_title", "change", "description", "email"))


async def search(client: MispClient, query: LogQuery) -> LogPage:
    if not query.text:
        rows = await fetch_page(client, query, query.page)
        return LogPage(rows, query.page, query.limit, has_more=len(rows) == query.limit)
    return await search_text(client, query)


async def search_text(client: MispClient, query: LogQuery) -> LogPage:
    """MISP has no free-text filter on its log index: scan its pages (filters still applied by MISP) and
    keep matching rows until this page of matches is full. Never more than MAX_TEXT_SCAN_PAGES requests."""
    assert query.text is not None
    skip, server_page = (query.page - 1) * query.limit, 1
    found: list[dict[str, Any]] = []
    while server_page <= MAX_TEXT_SCAN_PAGES:
        rows = await fetch_page(client, query, server_page)
        for row in rows:
            if matches(row, query.text):
                if skip:
                    skip -= 1
                elif len(found) < query.limit:
                    found.append(row)
                else:
                    return LogPage(found, query.page, query.limit, has_more=True)
        if len(rows) < query.limit:
            return LogPage(found, query.page, query.limit, has_more=False)
        server_page += 1
    note = (f"--text scanned {MAX_TEXT_SCAN_PAGES} pages of {query.limit} rows and stopped: narrow the search "
            "with --model, --action, --user or --since/--until")
    return LogPage(found, query.page, query.limit, has_more=True, notes=[note])


async def user_id_for(client: MispClient, email: str) -> str:
    """The id behind an e-mail, for the audit log; "0" (matches nothing) for an unknown e-mail."""
    users = await client.get("/admin/users/index")
    for row in users if isinstance(users, list) else []:
        user = row.get("User", row) if isinstance(row, dict) else {}
        if str(user.get("email", "")).casefold() == email.casefold():
            return str(user.get("id"))
    return "0"


def run_request_ids(records: Sequence[AuditRecord]) -> list[str]:
    """Every X-Request-Id our audit recorded for one run, in the order sent."""
    ids: list[str] = []
    for record in records:
        for request_id in record.record.get("request_ids") or []:
            if str(request_id) not in ids:
                ids.append(str(request_id))
    return ids


async def rows_for_requests(client: MispClient, request_ids: Sequence[str], query: LogQuery) -> LogPage:
    """MISP's audit rows written while serving these requests. The ids go in a POSTed filter (MISP's index
    takes a list there: OR), a chunk at a time; a run's rows are few, so they are collected, then paged."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(request_ids), IDS_PER_REQUEST):
        chunk = list(request_ids[start:start + IDS_PER_REQUEST])
        page = 1
        while True:
            body = {**query.filters(), "request_id": chunk, "limit": 1000, "page": page}
            found = unwrap(await client.post(AUDIT_LOGS, body, idempotent=True))
            rows += found
            if len(found) < 1000:
                break
            page += 1
    rows.sort(key=lambda row: int(row.get("id") or 0))
    if query.text:
        rows = [row for row in rows if matches(row, query.text)]
    first = (query.page - 1) * query.limit
    shown = rows[first:first + query.limit]
    return LogPage(shown, query.page, query.limit, has_more=len(rows) > first + query.limit,
                   related=await application_rows(client, shown) if shown else [])


SAME_MOMENT_SECONDS = 5  # an audit row and its application-log twin are written by one request


def created_at(row: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(row.get("created") or ""))
    except ValueError:
        return None


def twin_of(log: Mapping[str, Any], audits: Sequence[Mapping[str, Any]]) -> bool:
    """An application-log row written with one of these audit rows: same model, id and action, same moment
    (MISP's application log carries no request id, so the audit row is the link)."""
    for audit in audits:
        if (str(audit.get("model")), str(audit.get("model_id")), str(audit.get("action"))) != \
                (str(log.get("model")), str(log.get("model_id")), str(log.get("action"))):
            continue
        when, then = created_at(log), created_at(audit)
        if when is None or then is None or abs((when - then).total_seconds()) <= SAME_MOMENT_SECONDS:
            return True
    return False


async def application_rows(client: MispClient, audits: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The application-log rows matching a page of audit rows: one filtered request per model."""
    by_model: dict[str, set[str]] = {}
    for audit in audits:
        by_model.setdefault(str(audit.get("model")), set()).add(str(audit.get("model_id")))
    found: list[dict[str, Any]] = []
    for model, ids in sorted(by_model.items()):
        body = {"model": model, "model_id": sorted(ids), "limit": 1000}
        found += [row for row in unwrap(await client.post(LOGS, body, idempotent=True)) if twin_of(row, audits)]
    return sorted(found, key=lambda row: int(row.get("id") or 0))

"""The journal: each write to MISP, recorded before and after its HTTP call, one row per operation.

    intent ──▶ sent ──▶ confirmed
       │         └────▶ failed
       └──────────────▶ failed
    intent | sent ──▶ resolved    (the next run re-read MISP after a crash and closed it)

A row left at intent or sent means the process died around the HTTP call: MISP may or may not have done
it, so the next run re-reads those objects before planning. Each step is its own committed transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.errors import InvalidTransition
from reconciler.state.redact import scrub, scrub_json
from reconciler.state.schema import journal, utcnow


class Status(enum.StrEnum):
    INTENT = "intent"  # about to send; nothing left this machine yet
    SENT = "sent"  # the request is on its way: MISP may have done it even if we never hear back
    CONFIRMED = "confirmed"  # MISP answered success
    FAILED = "failed"  # MISP refused, or we know it was not done
    RESOLVED = "resolved"  # an unfinished operation closed by a later run after re-reading MISP


OPEN = (Status.INTENT, Status.SENT)
ALLOWED_FROM: dict[Status, tuple[Status, ...]] = {
    Status.SENT: (Status.INTENT,),
    Status.CONFIRMED: OPEN,
    Status.FAILED: OPEN,
    Status.RESOLVED: OPEN,
}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    run_id: int
    instance: str
    kind: str
    key: str
    action: str
    status: Status
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    misp_id: str | None = None
    uuid: str | None = None
    error: str | None = None  # MISP's refusal (failed), or how a later run closed it (resolved)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "run_id": self.run_id, "kind": self.kind, "key": self.key,
                "action": self.action, "status": self.status.value, "detail": self.detail,
                "request_id": self.request_id, "misp_id": self.misp_id, "uuid": self.uuid,
                "error": self.error, "updated_at": self.updated_at.isoformat() if self.updated_at else None}


def _from_row(row: sa.RowMapping) -> JournalEntry:
    return JournalEntry(**{**row, "status": Status(row["status"]), "detail": dict(row["detail"] or {})})


def intent(conn: Connection, run_id: int, instance: str, *, kind: str, key: str, action: str,
           detail: dict[str, Any], status: Status = Status.INTENT, **values: str | None) -> JournalEntry:
    """A new operation, at intent; or, for one that sends nothing, confirmed at once (`values` are then
    misp_id and uuid, as `move` takes them)."""
    assert status in (Status.INTENT, Status.CONFIRMED)
    now = utcnow()
    row = {"run_id": run_id, "instance": instance, "kind": kind, "key": key, "action": action,
           "detail": scrub_json(detail), "status": status.value, "created_at": now, "updated_at": now,
           **{name: scrub(value) for name, value in values.items()}}
    result = conn.execute(journal.insert().values(**row))
    assert result.inserted_primary_key is not None
    op_id = result.inserted_primary_key[0]
    return JournalEntry(**{**row, "id": op_id, "status": status})


def move(conn: Connection, op: JournalEntry, status: Status, **values: str | None) -> JournalEntry:
    """One step of the state machine; a step out of order is a bug in the caller and raises."""
    allowed = ALLOWED_FROM[status]
    clean: dict[str, Any] = {name: scrub(value) for name, value in values.items()}
    now = utcnow()
    updated = conn.execute(journal.update()
                           .where(journal.c.id == op.id, journal.c.status.in_([s.value for s in allowed]))
                           .values(status=status.value, updated_at=now, **clean))
    if updated.rowcount == 0:
        current = conn.execute(sa.select(journal.c.status).where(journal.c.id == op.id)).scalar()
        raise InvalidTransition(f"journal operation {op.id} ({op.kind}[{op.key!r}] {op.action}) cannot go "
                                f"from {current or 'nowhere'} to {status.value}")
    return replace(op, status=status, updated_at=now, **clean)


def unfinished(conn: Connection, instance: str) -> list[JournalEntry]:
    query = (sa.select(journal).where(journal.c.instance == instance,
                                      journal.c.status.in_([s.value for s in OPEN]))
             .order_by(journal.c.id))
    return [_from_row(row) for row in conn.execute(query).mappings()]


def of_run(conn: Connection, run_id: int) -> list[JournalEntry]:
    query = sa.select(journal).where(journal.c.run_id == run_id).order_by(journal.c.id)
    return [_from_row(row) for row in conn.execute(query).mappings()]

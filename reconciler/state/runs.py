"""Runs: one row per apply (who, where, which commit, manifest and plan hashes, outcome, counts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.errors import UnknownRun
from reconciler.state.redact import scrub, scrub_json
from reconciler.state.schema import runs, utcnow

Outcome = Literal["ok", "failed", "interrupted"]
OUTCOMES: frozenset[str] = frozenset({"ok", "failed", "interrupted"})


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    instance: str
    command: str
    who: str
    host: str
    git_commit: str | None
    manifest_hash: str | None
    plan_hash: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # None while the run is going on
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "instance": self.instance, "command": self.command, "who": self.who,
                "host": self.host, "git_commit": self.git_commit, "manifest_hash": self.manifest_hash,
                "plan_hash": self.plan_hash, "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "outcome": self.outcome, "counts": self.counts}


def start(conn: Connection, instance: str, *, command: str, who: str, host: str, git_commit: str | None,
          manifest_hash: str | None, plan_hash: str | None) -> int:
    _close_abandoned(conn, instance, command)
    result = conn.execute(runs.insert().values(
        instance=instance, command=command, who=scrub(who), host=scrub(host), git_commit=scrub(git_commit),
        manifest_hash=manifest_hash, plan_hash=plan_hash, started_at=utcnow(), counts={}))
    run_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert isinstance(run_id, int)
    return run_id


def _close_abandoned(conn: Connection, instance: str, command: str) -> None:
    """Applies run under the lock, so an open apply found when a new one starts died without finishing."""
    conn.execute(runs.update().where(runs.c.instance == instance, runs.c.command == command,
                                     runs.c.outcome.is_(None)).values(outcome="interrupted"))


def finish(conn: Connection, run_id: int, outcome: str, counts: dict[str, int]) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"a run's outcome is one of {sorted(OUTCOMES)}, not {outcome!r}")
    updated = conn.execute(runs.update().where(runs.c.id == run_id).values(
        outcome=outcome, finished_at=utcnow(), counts=scrub_json(dict(counts))))
    if updated.rowcount == 0:
        raise UnknownRun(run_id)


def _from_row(row: sa.RowMapping) -> RunRecord:
    return RunRecord(**{**row, "counts": dict(row["counts"] or {})})


def get(conn: Connection, run_id: int) -> RunRecord:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if row is None:
        raise UnknownRun(run_id)
    return _from_row(row)


def instance_of(conn: Connection, run_id: int) -> str:
    instance = conn.execute(sa.select(runs.c.instance).where(runs.c.id == run_id)).scalar()
    if instance is None:
        raise UnknownRun(run_id)
    return str(instance)


def recent(conn: Connection, instance: str, limit: int | None = None) -> list[RunRecord]:
    query = sa.select(runs).where(runs.c.instance == instance).order_by(runs.c.id.desc()).limit(limit)
    return [_from_row(row) for row in conn.execute(query).mappings()]

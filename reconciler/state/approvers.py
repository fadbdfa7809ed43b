"""The approvers pinned for an instance: who must sign a change to the signature policy itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.schema import approvers, utcnow


@dataclass(frozen=True, slots=True)
class PinnedApprovers:
    keyring: str  # armored public keys
    fingerprints: tuple[str, ...]
    min: int
    run_id: int | None
    updated_at: datetime


def get(conn: Connection, instance: str) -> PinnedApprovers | None:
    row = conn.execute(sa.select(approvers).where(approvers.c.instance == instance)).mappings().first()
    if row is None:
        return None
    return PinnedApprovers(keyring=row["keyring"], fingerprints=tuple(row["fingerprints"]), min=row["min"],
                           run_id=row["run_id"], updated_at=row["updated_at"])


def pin(conn: Connection, instance: str, keyring: str, fingerprints: tuple[str, ...], min: int,
        run_id: int | None) -> None:
    conn.execute(approvers.delete().where(approvers.c.instance == instance))
    conn.execute(approvers.insert().values(instance=instance, keyring=keyring, fingerprints=list(fingerprints),
                                           min=min, run_id=run_id, updated_at=utcnow()))


def unpin(conn: Connection, instance: str) -> bool:
    return conn.execute(approvers.delete().where(approvers.c.instance == instance)).rowcount > 0

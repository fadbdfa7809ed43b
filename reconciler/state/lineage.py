"""Lineage: the MISP instance (by its uuid) a state belongs to, and a serial counting applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.redact import scrub
from reconciler.state.schema import lineage, utcnow


@dataclass(frozen=True, slots=True)
class Lineage:
    instance: str
    misp_uuid: str | None  # None until the first apply has seen the instance
    serial: int  # incremented once per apply
    created_at: datetime
    updated_at: datetime


def get(conn: Connection, instance: str) -> Lineage | None:
    row = conn.execute(sa.select(lineage).where(lineage.c.instance == instance)).mappings().first()
    return None if row is None else Lineage(**row)


def _ensure(conn: Connection, instance: str) -> None:
    if get(conn, instance) is None:
        now = utcnow()
        conn.execute(lineage.insert().values(instance=instance, misp_uuid=None, serial=0, created_at=now,
                                             updated_at=now))


def set_uuid(conn: Connection, instance: str, misp_uuid: str) -> None:
    _ensure(conn, instance)
    conn.execute(lineage.update().where(lineage.c.instance == instance)
                 .values(misp_uuid=scrub(misp_uuid), updated_at=utcnow()))


def bump_serial(conn: Connection, instance: str) -> int:
    _ensure(conn, instance)
    conn.execute(lineage.update().where(lineage.c.instance == instance)
                 .values(serial=lineage.c.serial + 1, updated_at=utcnow()))
    current = get(conn, instance)
    assert current is not None
    return current.serial


def instances(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(lineage.c.instance).order_by(lineage.c.instance)).scalars())

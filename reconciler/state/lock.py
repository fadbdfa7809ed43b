"""The state lock: one apply per instance at a time, across processes and machines.

The lock is a row whose primary key is the instance, inserted in its own committed transaction: the
database refuses a second one, whichever machine asks. It is released by deleting the row with the token
that created it, so a forced unlock followed by a new holder is never released by the old one.
A process that dies keeps its row: nothing can tell a dead holder on another machine from a slow one,
so the way out is a person running `state unlock --force`, as with Terraform's `force-unlock`.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reconciler.state.db import reading
from reconciler.state.errors import StateError
from reconciler.state.redact import scrub
from reconciler.state.schema import locks, utcnow

POLL_INTERVAL_S = 0.2  # how often a waiting process retries; the lock is held for whole applies


@dataclass(frozen=True, slots=True)
class LockInfo:
    instance: str
    who: str
    host: str
    pid: int
    since: datetime

    def describe(self) -> str:
        return f"{self.who}@{self.host} (pid {self.pid}) since {self.since.isoformat(timespec='seconds')}"

    def looks_dead(self) -> bool:
        """True only when the holder is on this machine and its process is gone."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by another user
            return False
        return False


class LockHeld(StateError):
    """Another run holds the lock. The message names it and the way out, with its risk."""

    def __init__(self, holder: LockInfo) -> None:
        self.holder = holder
        hint = (f"Its process {holder.pid} is no longer running on this host, so the lock looks stale. "
                if holder.looks_dead() else "")
        super().__init__(
            f"The state of {holder.instance!r} is locked by {holder.describe()}. "
            f"Another apply may be running: wait for it to finish. {hint}"
            f"If you are sure it is not running, `misp-reconcile state unlock --force --instance "
            f"{holder.instance}` (with the same --state-url, if you use one) releases the lock; doing so "
            "while the other run is alive lets two applies write to MISP and the state at once.")


def holder(engine: Engine, instance: str) -> LockInfo | None:
    with reading(engine) as conn:
        row = conn.execute(sa.select(locks).where(locks.c.instance == instance)).mappings().first()
    if row is None:
        return None
    return LockInfo(instance=row["instance"], who=row["who"], host=row["host"], pid=row["pid"],
                    since=row["since"])


def _try_insert(engine: Engine, instance: str, token: str, who: str, host: str, pid: int) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(locks.insert().values(instance=instance, token=token, who=scrub(who),
                                               host=scrub(host), pid=pid, since=utcnow()))
    except IntegrityError:
        return False
    return True


def acquire(engine: Engine, instance: str, *, who: str, host: str, pid: int, wait: float = 0.0) -> str:
    """Take the lock or raise LockHeld once `wait` seconds have passed; returns the release token."""
    token = secrets.token_hex(16)
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        if _try_insert(engine, instance, token, who, host, pid):
            return token
        current = holder(engine, instance)
        if current is None:
            continue  # released between our insert and our look: try again at once
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockHeld(current)
        time.sleep(min(POLL_INTERVAL_S, remaining))


def release(engine: Engine, instance: str, token: str) -> bool:
    """Release our own lock; False if it was forced away meanwhile (then it is someone else's now)."""
    with engine.begin() as conn:
        deleted = conn.execute(locks.delete().where(locks.c.instance == instance, locks.c.token == token))
    return deleted.rowcount > 0


def force_unlock(engine: Engine, instance: str) -> LockInfo | None:
    """Remove whoever's lock it is; returns the holder that was removed, if any."""
    current = holder(engine, instance)
    with engine.begin() as conn:
        conn.execute(locks.delete().where(locks.c.instance == instance))
    return current

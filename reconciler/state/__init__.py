"""State: what we own in MISP and what we did there (≈ Terraform's states/).

One database per instance by default (SQLite, `state/<instance>.db`), or any SQLAlchemy URL shared by a
team (PostgreSQL). It holds the ownership ledger, lineage and serial, runs, the operation journal, the
lock and the hash-chained audit log; the schema is versioned with the Alembic migrations in `migrations/`.

`StateStore` is the facade; each concept has its own module (ledger, lineage, lock, runs, journal, audit,
transfer). This package imports only `model` from reconciler: the engine calls it, never the reverse.
Nothing written here may hold a secret: every string is scrubbed on the way in.
"""

from reconciler.state.audit import AuditRecord, VerifyResult
from reconciler.state.errors import (
    BadExport,
    InvalidTransition,
    StateError,
    StateNotEmpty,
    StateUnavailable,
    UnknownRevision,
    UnknownRun,
)
from reconciler.state.journal import JournalEntry
from reconciler.state.journal import Status as JournalStatus
from reconciler.state.ledger import OwnedObject
from reconciler.state.lineage import Lineage
from reconciler.state.lock import LockHeld, LockInfo
from reconciler.state.runs import RunRecord
from reconciler.state.store import StateStore

__all__ = [
    "AuditRecord",
    "BadExport",
    "InvalidTransition",
    "JournalEntry",
    "JournalStatus",
    "Lineage",
    "LockHeld",
    "LockInfo",
    "OwnedObject",
    "RunRecord",
    "StateError",
    "StateNotEmpty",
    "StateStore",
    "StateUnavailable",
    "UnknownRevision",
    "UnknownRun",
    "VerifyResult",
]

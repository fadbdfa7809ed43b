"""The state database's tables, as SQLAlchemy Core metadata. The migrations build exactly this (a test compares).

Timestamps are stored timezone-aware and read back as UTC whatever the backend: SQLite keeps no zone, and
PostgreSQL answers in the session's zone, and the audit hash must see the same value on both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(naming_convention={
    # Named constraints, so a migration can drop or alter them on PostgreSQL and SQLite alike.
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
})


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("state timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def copy(self, **kw: Any) -> UTCDateTime:
        return UTCDateTime()


# One row per instance: which MISP this state belongs to, and how many applies it has seen.
lineage = sa.Table(
    "lineage", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("misp_uuid", sa.String(64), nullable=True),
    sa.Column("serial", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The primary key is the lock: inserting a second row for an instance fails, on any machine.
locks = sa.Table(
    "locks", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),  # which holder may release it
    sa.Column("who", sa.String(200), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
)

ledger = sa.Table(
    "ledger", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(1000), primary_key=True),
    sa.Column("misp_id", sa.String(64), nullable=False),
    sa.Column("uuid", sa.String(64), nullable=True),
    sa.Column("fields", sa.JSON, nullable=False),  # sorted list of field names we set
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(200), nullable=False, index=True),
    sa.Column("command", sa.String(64), nullable=False),
    sa.Column("who", sa.String(200), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("manifest_hash", sa.String(128), nullable=True),
    sa.Column("plan_hash", sa.String(128), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),  # None while running, or if the process died
    sa.Column("counts", sa.JSON, nullable=False),
)

journal = sa.Table(
    "journal", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("instance", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("key", sa.String(1000), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # intent · sent · confirmed · failed · resolved
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("misp_id", sa.String(64), nullable=True),
    sa.Column("uuid", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # unfinished_operations() asks for this pair on every apply.
    sa.Index("ix_journal_instance_status", "instance", "status"),
)

# Append-only. `body` is the canonical JSON that was hashed, kept byte for byte.
audit = sa.Table(
    "audit", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=True, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The chain's head, written in the same transaction as each record: without it, deleting the last
# records would leave a shorter chain that still verifies.
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The approvers of the last applied manifest set with policy.require_signatures. The keyring sits beside the
# manifests it guards, so a change could swap it or drop the policy: such a change must itself be signed by
# the approvers pinned here (engine/approvals.py). Public keys only.
approvers = sa.Table(
    "approvers", metadata,
    sa.Column("instance", sa.String(200), primary_key=True),
    sa.Column("keyring", sa.Text, nullable=False),  # the armored public keys, as the keyring file held them
    sa.Column("fingerprints", sa.JSON, nullable=False),  # sorted primary fingerprints, for display
    sa.Column("min", sa.Integer, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),  # the apply that pinned them
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

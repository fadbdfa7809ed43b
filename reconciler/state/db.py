"""Engines for the state database: SQLite (the default, one file per instance) or PostgreSQL (shared).

SQLite is put in WAL mode (readers never block the writer) and every writing transaction starts with
BEGIN IMMEDIATE, so two processes writing the same file queue on the busy timeout instead of failing
half-way with "database is locked"; reads (`reading()`) use a plain BEGIN and take no write lock. `synchronous=FULL` makes each commit survive a power cut, not only a
killed process: the journal is only worth keeping if it is on disk before the HTTP call it describes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_S = 30  # how long a SQLite writer waits for another process's transaction to end
READ_ONLY = "reconciler_read_only"  # execution option marking a connection that never writes
WAL_ATTEMPTS = 40  # ~40 s of retries in all, beyond the busy timeout of the process creating the file
PG_MIGRATION_LOCK = 0x6D69737073746174  # advisory lock key ("mispstat"): one migrating process at a time


def create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str, database: str | None) -> Engine:
    in_memory = not database or database == ":memory:"
    if not in_memory:
        assert database is not None
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection, or each checkout sees an empty database
    engine = sa.create_engine(url, **options)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (pysqlite's own BEGIN handling defers it past DDL).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _enable_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """WAL is a property of the file, set once. Switching needs the file to itself and does not wait on the
    busy timeout, so a process opening a new file while another creates it retries (a test races two)."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _sqlite_on_begin(connection: Connection) -> None:
    # A reader takes a snapshot and blocks no one (WAL); a writer queues for the write lock up front, so
    # a long `audit verify` never stalls an apply's journal writes.
    reader = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite its transaction never takes the write lock."""
    with engine.connect() as connection:
        yield connection.execution_options(**{READ_ONLY: True})


def serialise_migrations(connection: Connection) -> None:
    """Make concurrent first opens of one database take turns (SQLite: BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"

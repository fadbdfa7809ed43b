"""Row storage for the sandbox: thin helpers over SQLAlchemy Core, rows as plain dicts."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.pool import StaticPool

from reconciler.sandbox.schema import METADATA, defaults

Row = dict[str, Any]


def make_engine(db_url: str) -> Engine:
    if db_url in ("sqlite://", "sqlite:///:memory:"):
        # One shared connection: an in-memory SQLite database lives and dies with its connection.
        engine = create_engine(db_url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    elif db_url.startswith("sqlite"):
        engine = create_engine(db_url, connect_args={"check_same_thread": False, "timeout": 30})
    else:
        engine = create_engine(db_url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    return engine


class Store:
    """All reads and writes of the sandbox go through here.

    Each request runs in one transaction (`transaction()`): a request that fails half-way leaves nothing
    behind, so a bad request never corrupts the database. Writes are serialised with a lock because
    SQLite allows one writer; requests are short.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = threading.RLock()
        self._local = threading.local()
        METADATA.create_all(engine)

    # -- transactions -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        if getattr(self._local, "conn", None) is not None:
            yield self._local.conn
            return
        with self._write_lock, self.engine.begin() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @property
    def conn(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("Store used outside a transaction")
        assert isinstance(conn, Connection)
        return conn

    # -- rows ---------------------------------------------------------------------------------------
    def insert(self, table: str, values: Mapping[str, Any]) -> Row:
        row = {**defaults(table), **values}
        columns = METADATA.tables[table].c
        row = {k: v for k, v in row.items() if k in columns}
        result = self.conn.execute(insert(METADATA.tables[table]).values(**row))
        if "id" in columns and row.get("id") is None:
            row["id"] = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if "id" not in columns:
            return row
        stored = self.get(table, row["id"])
        assert stored is not None
        return stored

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        base = defaults(table)
        columns = METADATA.tables[table].c
        batch = [{k: v for k, v in {**base, **r}.items() if k in columns} for r in rows]
        if batch:
            self.conn.execute(insert(METADATA.tables[table]), batch)

    def get(self, table: str, row_id: Any) -> Row | None:
        t = METADATA.tables[table]
        row = self.conn.execute(select(t).where(t.c.id == int(row_id))).mappings().first()
        return dict(row) if row else None

    def find(self, table: str, **where: Any) -> list[Row]:
        t = METADATA.tables[table]
        query = select(t)
        for name, value in where.items():
            query = query.where(t.c[name] == value)
        return [dict(r) for r in self.conn.execute(query.order_by(*t.primary_key.columns)).mappings()]

    def first(self, table: str, **where: Any) -> Row | None:
        rows = self.find(table, **where)
        return rows[0] if rows else None

    def find_ci(self, table: str, column: str, value: str) -> Row | None:
        """Case-insensitive match, as MySQL's default collations compare."""
        t = METADATA.tables[table]
        row = self.conn.execute(
            select(t).where(func.lower(t.c[column]) == value.lower())).mappings().first()
        return dict(row) if row else None

    def all(self, table: str) -> list[Row]:
        return self.find(table)

    def update(self, table: str, row_id: Any, values: Mapping[str, Any]) -> Row:
        t = METADATA.tables[table]
        values = {k: v for k, v in values.items() if k in t.c and k != "id"}
        if values:
            self.conn.execute(update(t).where(t.c.id == int(row_id)).values(**values))
        row = self.get(table, row_id)
        assert row is not None
        return row

    def delete(self, table: str, **where: Any) -> int:
        t = METADATA.tables[table]
        query = delete(t)
        for name, value in where.items():
            query = query.where(t.c[name] == value)
        return self.conn.execute(query).rowcount

    def count(self, table: str, **where: Any) -> int:
        t = METADATA.tables[table]
        query = select(func.count()).select_from(t)
        for name, value in where.items():
            query = query.where(t.c[name] == value)
        return int(self.conn.execute(query).scalar_one())

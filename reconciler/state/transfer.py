"""Move a whole state between databases (SQLite ↔ PostgreSQL) as JSON lines.

The first line is a header (format, version, schema revision); every other line is one row:
{"table": ..., "row": {...}}. Rows are copied as they are, ids and hashes included, so the audit chain
still verifies after the move. Locks are not exported: a lock belongs to a running process, not to the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.errors import BadExport, StateNotEmpty
from reconciler.state.schema import UTCDateTime, approvers, audit, audit_head, journal, ledger, lineage, runs

FORMAT = "misp-reconciler-state"
VERSION = 1
TABLES = (lineage, ledger, runs, journal, audit, audit_head, approvers)  # parents before children (journal → runs)
BATCH = 500  # rows per INSERT: few round trips, bounded memory


def _encode(table: sa.Table, row: sa.RowMapping) -> dict[str, Any]:
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()}


def _decode(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    known = {column.name: column for column in table.columns}
    unknown = row.keys() - known.keys()
    if unknown:
        raise BadExport(f"table {table.name} has no column(s) {sorted(unknown)}")
    return {name: datetime.fromisoformat(value) if isinstance(known[name].type, UTCDateTime) and value
            else value for name, value in row.items()}


def export_all(conn: Connection, stream: IO[str], revision: str) -> dict[str, int]:
    """Write every table; returns the number of rows per table."""
    stream.write(json.dumps({"format": FORMAT, "version": VERSION, "revision": revision}) + "\n")
    counts: dict[str, int] = {}
    for table in TABLES:
        order = list(table.primary_key.columns)
        result = conn.execution_options(yield_per=BATCH).execute(sa.select(table).order_by(*order))
        counts[table.name] = 0
        for row in result.mappings():
            stream.write(json.dumps({"table": table.name, "row": _encode(table, row)}, ensure_ascii=False) + "\n")
            counts[table.name] += 1
    return counts


def _lines(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadExport(f"line {number} is not JSON: {exc}") from exc


def _check_header(header: dict[str, Any], revision: str) -> None:
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BadExport(f"not a {FORMAT} export of version {VERSION} (header: {header})")
    if header.get("revision") != revision:
        raise BadExport(f"the export is of schema revision {header.get('revision')}, this database is at "
                        f"{revision}: migrate the source first (`misp-reconcile state migrate`)")


def is_empty(conn: Connection) -> bool:
    return all(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 0 for t in TABLES)


def import_all(conn: Connection, stream: IO[str], revision: str) -> dict[str, int]:
    """Load an export into an empty database, in the caller's transaction; returns rows per table."""
    if not is_empty(conn):
        raise StateNotEmpty("the target state database already holds state; import only into an empty one")
    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        raise BadExport("the export is empty")
    _check_header(first[1], revision)
    tables = {table.name: table for table in TABLES}
    pending: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    for number, item in lines:
        table = tables.get(item.get("table", ""))
        if table is None or not isinstance(item.get("row"), dict):
            raise BadExport(f"line {number}: expected {{table, row}} with a known table")
        pending[table.name].append(_decode(table, item["row"]))
    counts = {}
    for table in TABLES:  # in dependency order, whatever order the lines came in
        rows = pending[table.name]
        for start in range(0, len(rows), BATCH):
            conn.execute(table.insert(), rows[start:start + BATCH])
        counts[table.name] = len(rows)
    _advance_sequences(conn)
    return counts


def _advance_sequences(conn: Connection) -> None:
    """PostgreSQL's serial sequences do not see explicit ids: move them past the imported rows."""
    if conn.dialect.name != "postgresql":
        return
    for table in (runs, journal):
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                             f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))

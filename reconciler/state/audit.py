"""The audit log: append-only and hash-chained, per instance.

Each record's hash is sha256(canonical JSON of {instance, seq, run_id, at, record} + the previous hash),
the first record chaining from GENESIS. `audit_head` holds the last seq and hash, written in the same
transaction, so deleting the newest records is caught as well as editing, inserting or deleting older ones.
What this does not guarantee: someone able to write the database can recompute the whole chain and the
head. Keep `audit verify`'s head (seq and hash) elsewhere, e.g. a CI log, and pass it back as a pin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.state.redact import scrub_json
from reconciler.state.schema import audit, audit_head, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    instance: str
    seq: int
    run_id: int | None
    at: datetime
    record: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "seq": self.seq, "run_id": self.run_id, "at": self.at.isoformat(),
                "record": self.record, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    count: int = 0  # records checked; also the head's seq
    head: str = GENESIS  # the last hash: worth keeping outside the database, to pin with later


def canonical(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(*, instance: str, seq: int, run_id: int | None, at: datetime, body: str, prev_hash: str) -> str:
    envelope = canonical({"instance": instance, "seq": seq, "run_id": run_id, "at": at.isoformat(),
                          "record": json.loads(body)})
    return hashlib.sha256((envelope + prev_hash).encode()).hexdigest()


def append(conn: Connection, instance: str, run_id: int | None, record: dict[str, Any]) -> AuditRecord:
    """Append one record. Concurrent appenders collide on the (instance, seq) key; the store retries."""
    head = conn.execute(sa.select(audit_head).where(audit_head.c.instance == instance)
                        .with_for_update()).mappings().first()
    seq, prev = (head["seq"] + 1, head["hash"]) if head else (1, GENESIS)
    clean = scrub_json(record)
    body = canonical(clean)
    at = utcnow()
    digest = chain_hash(instance=instance, seq=seq, run_id=run_id, at=at, body=body, prev_hash=prev)
    conn.execute(audit.insert().values(instance=instance, seq=seq, run_id=run_id, at=at, body=body,
                                       prev_hash=prev, hash=digest))
    if head:
        conn.execute(audit_head.update().where(audit_head.c.instance == instance).values(seq=seq, hash=digest))
    else:
        conn.execute(audit_head.insert().values(instance=instance, seq=seq, hash=digest))
    return AuditRecord(instance, seq, run_id, at, json.loads(body), prev, digest)


def _from_row(row: sa.RowMapping) -> AuditRecord:
    return AuditRecord(instance=row["instance"], seq=row["seq"], run_id=row["run_id"], at=row["at"],
                       record=json.loads(row["body"]), prev_hash=row["prev_hash"], hash=row["hash"])


def records(conn: Connection, instance: str, *, run_id: int | None = None,
            limit: int | None = None) -> list[AuditRecord]:
    """Oldest first; with `limit`, the newest `limit` records (still oldest first)."""
    query = sa.select(audit).where(audit.c.instance == instance)
    if run_id is not None:
        query = query.where(audit.c.run_id == run_id)
    query = query.order_by(audit.c.seq.desc()).limit(limit)
    return [_from_row(row) for row in reversed(list(conn.execute(query).mappings()))]


def _rows(conn: Connection, instance: str) -> Iterator[sa.RowMapping]:
    query = sa.select(audit).where(audit.c.instance == instance).order_by(audit.c.seq)
    yield from conn.execution_options(yield_per=1000).execute(query).mappings()


def verify(conn: Connection, instance: str, pins: Mapping[int, str] | None = None) -> VerifyResult:
    """Walk the chain. `pins` maps seq → hash recorded elsewhere earlier (a CI log): it catches a chain
    rewritten from some record on, hashes and head included, which the chain alone cannot."""
    problems: list[str] = []
    expected_seq, prev, count = 1, GENESIS, 0
    pending = dict(pins or {})
    for row in _rows(conn, instance):
        count += 1
        seq = row["seq"]
        if seq in pending and pending.pop(seq) != row["hash"]:
            problems.append(f"record {seq}: its hash differs from the one pinned (the chain was rewritten?)")
        if seq != expected_seq:
            problems.append(f"record {seq}: expected record {expected_seq} here; "
                            f"records {expected_seq}..{seq - 1} are missing (deleted?)" if seq > expected_seq
                            else f"record {seq}: out of sequence after record {expected_seq - 1}")
        if row["prev_hash"] != prev:
            problems.append(f"record {seq}: does not chain to the record before it (inserted, deleted "
                            "or reordered records?)")
        try:
            recomputed = chain_hash(instance=instance, seq=seq, run_id=row["run_id"], at=row["at"],
                                    body=row["body"], prev_hash=row["prev_hash"])
        except json.JSONDecodeError:
            recomputed = ""
        if recomputed != row["hash"]:
            problems.append(f"record {seq}: its content does not match its hash (edited?)")
        expected_seq, prev = seq + 1, row["hash"]
    problems += [f"record {seq}: pinned but not in the chain (deleted?)" for seq in sorted(pending)]
    problems += _check_head(conn, instance, expected_seq - 1, prev)
    return VerifyResult(ok=not problems, problems=problems, count=count, head=prev)


def _check_head(conn: Connection, instance: str, last_seq: int, last_hash: str) -> list[str]:
    head = conn.execute(sa.select(audit_head).where(audit_head.c.instance == instance)).mappings().first()
    if head is None:
        return [] if last_seq == 0 else ["the chain has records but no head (the head row was deleted?)"]
    if head["seq"] != last_seq:
        return [f"the chain ends at record {last_seq} but its head says record {head['seq']} "
                "(the newest records were deleted, or records appended behind the head?)"]
    if head["hash"] != last_hash:
        return [f"the last record {last_seq} does not match the head's hash (edited?)"]
    return []


def export_jsonl(conn: Connection, instance: str, stream: IO[str]) -> int:
    """One canonical JSON object per line, oldest first; returns how many were written."""
    count = 0
    for row in _rows(conn, instance):
        stream.write(canonical(_from_row(row).as_json()) + "\n")
        count += 1
    return count


def instances(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(audit_head.c.instance).order_by(audit_head.c.instance)).scalars())

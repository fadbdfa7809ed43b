"""The audit log is append-only and hash-chained: verify catches an edited, inserted or deleted record."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa

from reconciler.model.secrets import REDACTOR
from reconciler.state import StateStore
from reconciler.state.audit import GENESIS, chain_hash
from tests.canaries import CANARIES


def fill(store: StateStore, n: int = 5, instance: str = "prod") -> int:
    run_id = store.start_run(instance, command="apply", who="alice", host="h")
    for i in range(1, n + 1):
        store.audit_append(instance, run_id, {"kind": "users", "key": f"u{i}@x.org", "action": "create"})
    return run_id


def sql(store: StateStore, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_records_chain_from_genesis_and_verify(store: StateStore) -> None:
    run_id = fill(store, 3)
    records = store.audit("prod")

    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert records[1].record == {"kind": "users", "key": "u2@x.org", "action": "create"}
    assert all(r.run_id == run_id for r in records)
    result = store.audit_verify("prod")
    assert (result.ok, result.problems, result.count, result.head) == (True, [], 3, records[-1].hash)


def test_each_instance_has_its_own_chain(store: StateStore) -> None:
    fill(store, 2, "prod")
    fill(store, 3, "staging")

    assert [r.seq for r in store.audit("staging")] == [1, 2, 3]
    assert store.audit_verify("prod").ok and store.audit_verify("staging").ok
    assert store.audit_verify("empty").ok


def test_filter_by_run_and_limit_to_the_newest(store: StateStore) -> None:
    fill(store, 2)
    second = fill(store, 3)

    assert [r.record["key"] for r in store.audit("prod", run_id=second)] == ["u1@x.org", "u2@x.org", "u3@x.org"]
    assert [r.seq for r in store.audit("prod", limit=2)] == [4, 5]


def test_an_edited_record_is_detected(store: StateStore) -> None:
    fill(store)
    sql(store, "UPDATE audit SET body = :body WHERE seq = 3",
        body=json.dumps({"kind": "users", "key": "mallory@x.org", "action": "create"}))

    result = store.audit_verify("prod")

    assert not result.ok
    assert result.problems == ["record 3: its content does not match its hash (edited?)"]


def test_an_edited_timestamp_is_detected(store: StateStore) -> None:
    fill(store)
    with store.engine.begin() as conn:
        at = conn.execute(sa.text("SELECT at FROM audit WHERE seq = 1")).scalar()
        conn.execute(sa.text("UPDATE audit SET at = (SELECT at FROM audit WHERE seq = 2) WHERE seq = 1"))
    assert at is not None

    assert store.audit_verify("prod").problems == ["record 1: its content does not match its hash (edited?)"]


def test_a_deleted_record_is_detected(store: StateStore) -> None:
    fill(store)
    sql(store, "DELETE FROM audit WHERE seq = 2")

    problems = store.audit_verify("prod").problems

    assert problems == [
        "record 3: expected record 2 here; records 2..2 are missing (deleted?)",
        "record 3: does not chain to the record before it (inserted, deleted or reordered records?)",
    ]


def test_deleting_the_newest_records_is_detected_by_the_head(store: StateStore) -> None:
    fill(store)
    sql(store, "DELETE FROM audit WHERE seq >= 4")

    assert store.audit_verify("prod").problems == [
        "the chain ends at record 3 but its head says record 5 (the newest records were deleted, or records "
        "appended behind the head?)"]


def test_an_inserted_record_is_detected_even_with_a_correct_hash(store: StateStore) -> None:
    fill(store)
    last = store.audit("prod")[-1]
    body = json.dumps({"kind": "users", "key": "mallory@x.org", "action": "delete"})
    forged = chain_hash(instance="prod", seq=6, run_id=None, at=last.at, body=body, prev_hash=last.hash)
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit (instance, seq, run_id, at, body, prev_hash, hash) "
                             "VALUES ('prod', 6, NULL, :at, :body, :prev, :hash)"),
                     {"at": last.at, "body": body, "prev": last.hash, "hash": forged})

    assert store.audit_verify("prod").problems == [
        "the chain ends at record 6 but its head says record 5 (the newest records were deleted, or records "
        "appended behind the head?)"]


def test_a_record_inserted_in_the_middle_is_detected(store: StateStore) -> None:
    fill(store)
    # Make room after record 2, then slip a copy of record 2 in as record 3.
    sql(store, "UPDATE audit SET seq = seq + 100 WHERE seq > 2")
    sql(store, "UPDATE audit SET seq = seq - 99 WHERE seq > 100")
    sql(store, "INSERT INTO audit (instance, seq, run_id, at, body, prev_hash, hash) "
               "SELECT instance, 3, run_id, at, body, prev_hash, hash FROM audit WHERE seq = 2")
    sql(store, "UPDATE audit_head SET seq = 6")

    problems = store.audit_verify("prod").problems

    assert "record 3: does not chain to the record before it (inserted, deleted or reordered records?)" in problems
    assert "record 3: its content does not match its hash (edited?)" in problems
    assert "record 4: its content does not match its hash (edited?)" in problems


def test_export_jsonl_is_one_canonical_record_per_line(store: StateStore) -> None:
    fill(store, 3)
    out = io.StringIO()

    assert store.audit_export_jsonl("prod", out) == 3

    lines = out.getvalue().splitlines()
    exported = [json.loads(line) for line in lines]
    assert [e["seq"] for e in exported] == [1, 2, 3]
    assert exported[2]["prev_hash"] == exported[1]["hash"]
    assert set(exported[0]) == {"instance", "seq", "run_id", "at", "record", "prev_hash", "hash"}
    assert lines[0] == json.dumps(exported[0], sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_secrets_are_scrubbed_before_hashing(store: StateStore) -> None:
    canary = CANARIES.get("audit-authkey")
    REDACTOR.register(canary)
    store.audit_append("prod", None, {"fields": [{"path": "authkey", "after": canary}]})

    (record,) = store.audit("prod")

    assert record.record == {"fields": [{"path": "authkey", "after": "(secret)"}]}
    assert store.audit_verify("prod").ok
    with store.engine.connect() as conn:
        assert canary not in repr(conn.execute(sa.text("SELECT * FROM audit")).all())


def test_appenders_in_several_threads_keep_one_unbroken_chain(store: StateStore) -> None:
    """Separate connections racing for the same next seq: each append lands once, in order."""
    from concurrent.futures import ThreadPoolExecutor

    def append_many(worker: int) -> None:
        for n in range(10):
            store.audit_append("prod", None, {"worker": worker, "n": n})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append_many, range(4)))

    records = store.audit("prod")
    assert [r.seq for r in records] == list(range(1, 41))
    assert sorted((r.record["worker"], r.record["n"]) for r in records) == [(w, n) for w in range(4)
                                                                            for n in range(10)]
    assert store.audit_verify("prod").ok


def test_a_rewritten_chain_passes_alone_but_not_against_a_pin(store: StateStore) -> None:
    """Someone with write access recomputes every hash and the head: only a pin kept elsewhere tells."""
    fill(store, 3)
    pinned = store.audit_verify("prod")
    records = store.audit("prod")
    prev = records[0].hash
    with store.engine.begin() as conn:
        for record in records[1:]:
            body = json.dumps({**record.record, "action": "delete"})
            digest = chain_hash(instance="prod", seq=record.seq, run_id=record.run_id, at=record.at, body=body,
                                prev_hash=prev)
            conn.execute(sa.text("UPDATE audit SET body = :body, prev_hash = :prev, hash = :hash "
                                 "WHERE instance = 'prod' AND seq = :seq"),
                         {"body": body, "prev": prev, "hash": digest, "seq": record.seq})
            prev = digest
        conn.execute(sa.text("UPDATE audit_head SET hash = :hash WHERE instance = 'prod'"), {"hash": prev})

    assert store.audit_verify("prod").ok
    assert store.audit_verify("prod", pins={pinned.count: pinned.head}).problems == [
        "record 3: its hash differs from the one pinned (the chain was rewritten?)"]
    assert store.audit_verify("prod", pins={1: records[0].hash}).ok
    assert store.audit_verify("prod", pins={9: records[0].hash}).problems == [
        "record 9: pinned but not in the chain (deleted?)"]

"""Property: whatever single record is edited (any column) or deleted, verify says so. SQLite in memory."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.state import StateStore

COLUMNS = ("run_id", "at", "body", "prev_hash", "hash")


def chain(length: int) -> StateStore:
    store = StateStore.open("sqlite://")
    run_id = store.start_run("prod", command="apply", who="a", host="h")
    for n in range(length):
        store.audit_append("prod", run_id, {"n": n, "key": f"k{n}"})
    return store


def tamper(store: StateStore, seq: int, column: str) -> None:
    changes = {
        "run_id": "UPDATE audit SET run_id = 999 WHERE seq = :seq",
        "at": "UPDATE audit SET at = '2001-01-01 00:00:00.000000' WHERE seq = :seq",
        "body": "UPDATE audit SET body = '{\"n\":-1}' WHERE seq = :seq",
        "prev_hash": "UPDATE audit SET prev_hash = hash WHERE seq = :seq",
        "hash": "UPDATE audit SET hash = prev_hash WHERE seq = :seq",
        "delete": "DELETE FROM audit WHERE seq = :seq",
    }
    with store.engine.begin() as conn:
        conn.execute(sa.text(changes[column]), {"seq": seq})


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 8), data=st.data())
def test_any_single_edit_or_deletion_is_detected(length: int, data: st.DataObject) -> None:
    store = chain(length)
    try:
        assert store.audit_verify("prod").ok
        seq = data.draw(st.integers(1, length), label="seq")
        column = data.draw(st.sampled_from((*COLUMNS, "delete")), label="change")
        tamper(store, seq, column)

        result = store.audit_verify("prod")

        assert not result.ok and result.problems
    finally:
        store.close()

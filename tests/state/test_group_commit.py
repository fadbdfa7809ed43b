"""Writes from concurrent threads share commits, yet each succeeds or fails on its own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.state import InvalidTransition, JournalStatus, OwnedObject, StateStore


def test_concurrent_journal_writes_all_land(store: StateStore) -> None:
    run_id = store.start_run("prod", command="apply", who="a", host="h")
    start = threading.Barrier(8)

    def operate(n: int) -> None:
        start.wait()
        op = store.journal_intent(run_id, "organisations", f"org {n}", "create", {})
        op = store.journal_sent(op, "")
        store.journal_confirmed(op, misp_id=str(n), own=OwnedObject("organisations", f"org {n}", str(n), None,
                                                                    frozenset({"name"}), "{}"),
                                audit={"kind": "organisations", "key": f"org {n}", "status": "ok"})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(operate, range(8)))

    assert sorted(e.key for e in store.journal(run_id) if e.status is JournalStatus.CONFIRMED) == \
        sorted(f"org {n}" for n in range(8))
    assert len(store.ledger("prod")) == 8
    assert [r.seq for r in store.audit("prod")] == list(range(1, 9))
    assert store.audit_verify("prod").ok


def test_a_failing_write_fails_alone_and_its_batch_still_commits(store: StateStore) -> None:
    run_id = store.start_run("prod", command="apply", who="a", host="h")
    done = store.journal_confirmed(store.journal_sent(store.journal_intent(run_id, "tags", "t", "create")))
    start = threading.Barrier(6)

    def write(n: int) -> str:
        start.wait()
        if n == 0:
            with pytest.raises(InvalidTransition):
                store.journal_sent(done)  # confirmed already: a bug in the caller, raised to it alone
            return "refused"
        store.audit_append("prod", run_id, {"n": n})
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(write, range(6)))

    assert outcomes == ["refused", *["ok"] * 5]
    assert len(store.audit("prod")) == 5
    assert store.audit_verify("prod").ok


def test_confirmation_ownership_and_audit_are_one_transaction(store: StateStore) -> None:
    run_id = store.start_run("prod", command="apply", who="a", host="h")
    op = store.journal_sent(store.journal_intent(run_id, "users", "new@example.org", "update"))
    store.own("prod", OwnedObject("users", "old@example.org", "7", None, frozenset({"email"}), "{}"))

    with pytest.raises(TypeError):  # the audit record cannot be encoded: nothing of the three is written
        store.journal_confirmed(op, misp_id="7", own=OwnedObject("users", "new@example.org", "7", None,
                                                                 frozenset({"email"}), "{}"),
                                disown=["old@example.org"], audit={"bad": object()})

    assert store.journal(run_id)[0].status is JournalStatus.SENT
    assert set(store.ledger("prod")) == {("users", "old@example.org")}
    assert store.audit("prod") == []
    store.journal_confirmed(op, misp_id="7", own=OwnedObject("users", "new@example.org", "7", None,
                                                             frozenset({"email"}), "{}"),
                            disown=["old@example.org"], audit={"kind": "users", "status": "ok"})
    assert set(store.ledger("prod")) == {("users", "new@example.org")}
    assert store.owned_by_id("prod", "users", "7")[0].key == "new@example.org"
    assert len(store.audit("prod")) == 1


def test_an_operation_that_sends_nothing_is_journalled_confirmed_with_its_ledger_row(store: StateStore) -> None:
    run_id = store.start_run("prod", command="apply", who="a", host="h")

    done = store.journal_unsent(run_id, "tags", "tlp:red", "adopt", {"fields": []}, misp_id="4", uuid=None,
                                own=OwnedObject("tags", "tlp:red", "4", None, frozenset({"name"}), "{}"),
                                audit={"kind": "tags", "key": "tlp:red", "action": "adopt", "status": "ok"})

    assert done.status is JournalStatus.CONFIRMED and done.misp_id == "4"
    assert [(e.key, e.status) for e in store.journal(run_id)] == [("tlp:red", JournalStatus.CONFIRMED)]
    assert store.unfinished_operations("prod") == []
    assert store.owned("prod", "tags", "tlp:red") is not None
    assert [r.record["action"] for r in store.audit("prod")] == ["adopt"]

"""Moving a whole state between databases keeps the ledger, lineage, runs, journal and the audit chain."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from reconciler.state import BadExport, OwnedObject, StateNotEmpty, StateStore
from tests.state.conftest import sqlite_url


def populate(store: StateStore) -> None:
    store.set_lineage("prod", "misp-uuid-1")
    store.bump_serial("prod")
    for n in range(3):
        store.own("prod", OwnedObject(kind="users", key=f"u{n}@x.org", misp_id=str(n), uuid=f"uu-{n}",
                                      fields=frozenset({"email", "role"}), fingerprint=f'{{"n": {n}}}'))
    run_id = store.start_run("prod", command="apply", who="alice", host="h", git_commit="c0ffee")
    op = store.journal_intent(run_id, "users", "u0@x.org", "create", {"fields": ["email"]})
    store.journal_sent(op, "req-0")
    store.journal_confirmed(op, misp_id="0", uuid="uu-0")
    store.journal_intent(run_id, "users", "u1@x.org", "create", {})  # left open, as after a crash
    for n in range(4):
        store.audit_append("prod", run_id, {"key": f"u{n}@x.org", "note": "é ünïcode"})
    store.finish_run(run_id, outcome="ok", counts={"create": 3})
    store.pin_approvers("prod", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n…", ("ABCD",), 2, run_id)


def snapshot(store: StateStore) -> tuple[object, ...]:
    """Everything a move must keep, minus write times the ledger sets itself."""
    run_ids = [r.id for r in store.runs("prod")]
    return (store.lineage("prod"), store.ledger("prod"), store.runs("prod"),
            [store.journal(run_id) for run_id in run_ids], store.audit("prod"),
            [op.id for op in store.unfinished_operations("prod")], store.approvers("prod"))


def move(source: StateStore, target_url: str) -> StateStore:
    dump = io.StringIO()
    source.export_all(dump)
    dump.seek(0)
    target = StateStore.open(target_url)
    target.import_all(dump)
    return target


def test_sqlite_to_postgresql_and_back_keeps_everything(tmp_path: Path, pg_database: str) -> None:
    original = StateStore.open(sqlite_url(tmp_path, "original"))
    populate(original)
    on_pg = move(original, pg_database)
    back = move(on_pg, sqlite_url(tmp_path, "back"))
    try:
        for store in (on_pg, back):
            assert snapshot(store) == snapshot(original)
            assert store.audit_verify("prod").ok
            assert store.audit_verify("prod").head == original.audit_verify("prod").head
        # New rows continue after the imported ids (PostgreSQL's sequences were moved on).
        assert on_pg.start_run("prod", command="apply", who="b", host="h") == original.runs("prod")[0].id + 1
        on_pg.audit_append("prod", None, {"after": "move"})
        assert on_pg.audit_verify("prod").ok
    finally:
        for store in (original, on_pg, back):
            store.close()


def test_export_then_import_on_the_same_backend(store: StateStore, tmp_path: Path) -> None:
    populate(store)
    copy = move(store, sqlite_url(tmp_path, "copy"))
    try:
        assert snapshot(copy) == snapshot(store)
        assert copy.audit_verify("prod").ok
    finally:
        copy.close()


def test_the_export_has_a_header_and_one_row_per_line(store: StateStore) -> None:
    populate(store)
    dump = io.StringIO()

    counts = store.export_all(dump)

    lines = [json.loads(line) for line in dump.getvalue().splitlines()]
    assert lines[0] == {"format": "misp-reconciler-state", "version": 1, "revision": store.revision()}
    assert counts == {"lineage": 1, "ledger": 3, "runs": 1, "journal": 2, "audit": 4, "audit_head": 1,
                      "approvers": 1}
    assert len(lines) == 1 + sum(counts.values())
    assert not any(line.get("table") == "locks" for line in lines)


def test_import_into_a_state_that_is_not_empty_is_refused(store: StateStore, tmp_path: Path) -> None:
    populate(store)
    dump = io.StringIO()
    store.export_all(dump)
    dump.seek(0)

    with pytest.raises(StateNotEmpty):
        store.import_all(dump)
    assert len(store.audit("prod")) == 4


@pytest.mark.parametrize(("text", "message"), [
    ("", "the export is empty"),
    ('{"format": "something-else", "version": 1}\n', "not a misp-reconciler-state export"),
    ('{"format": "misp-reconciler-state", "version": 1, "revision": "0001"}\n', "revision 0001"),
    ('{"format": "misp-reconciler-state", "version": 1, "revision": "0003"}\n{"table": "nope", "row": {}}\n',
     "line 2: expected {table, row} with a known table"),
    ('{"format": "misp-reconciler-state", "version": 1, "revision": "0003"}\n{"table": "ledger", "row": '
     '{"colour": 1}}\n', "no column"),
    ('{"format": "misp-reconciler-state", "version": 1, "revision": "0003"}\nnot json\n', "line 2 is not JSON"),
])
def test_a_bad_export_is_refused_and_nothing_is_imported(tmp_path: Path, text: str, message: str) -> None:
    target = StateStore.open(sqlite_url(tmp_path))
    try:
        with pytest.raises(BadExport, match=message.replace("{", r"\{").replace("}", r"\}")):
            target.import_all(io.StringIO(text))
        assert target.instances() == []
    finally:
        target.close()


def test_an_export_with_a_duplicated_row_imports_nothing(store: StateStore, tmp_path: Path) -> None:
    source = StateStore.open(sqlite_url(tmp_path, "source"))
    populate(source)
    dump = io.StringIO()
    source.export_all(dump)
    source.close()
    lines = dump.getvalue().splitlines()
    ledger_line = next(line for line in lines if '"table": "ledger"' in line)

    with pytest.raises(BadExport, match="contradicts itself"):
        store.import_all(io.StringIO("\n".join([*lines, ledger_line]) + "\n"))

    assert store.instances() == [] and store.ledger("prod") == {} and store.runs("prod") == []

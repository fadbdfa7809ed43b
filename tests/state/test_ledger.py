"""Ledger, lineage and serial; nothing secret is ever stored."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from reconciler.model.secrets import REDACTOR
from reconciler.state import OwnedObject, StateStore
from tests.canaries import CANARIES


def owned(key: str, *, misp_id: str = "7", fields: frozenset[str] = frozenset({"name"}),
          fingerprint: str = "{}") -> OwnedObject:
    return OwnedObject(kind="organisations", key=key, misp_id=misp_id, uuid=f"uuid-{key}", fields=fields,
                       fingerprint=fingerprint)


def test_own_then_read_back_by_kind_and_key(store: StateStore) -> None:
    store.own("prod", owned("CIRCL", fields=frozenset({"name", "nationality"})))
    store.own("prod", owned("ACME", misp_id="8"))
    store.own("other", owned("CIRCL", misp_id="99"))

    ledger = store.ledger("prod")

    assert sorted(ledger) == [("organisations", "ACME"), ("organisations", "CIRCL")]
    circl = ledger[("organisations", "CIRCL")]
    assert (circl.misp_id, circl.uuid, circl.fields) == ("7", "uuid-CIRCL", frozenset({"name", "nationality"}))
    assert circl.updated_at is not None and circl.updated_at.tzinfo is not None
    assert store.ledger("other")[("organisations", "CIRCL")].misp_id == "99"


def test_owned_kinds_names_the_kinds_of_one_instance_without_loading_rows(store: StateStore) -> None:
    store.own("prod", owned("CIRCL"))
    store.own("prod", OwnedObject(kind="tags", key="tlp:red", misp_id="3", uuid=None, fields=frozenset(),
                                  fingerprint="{}"))
    store.own("other", OwnedObject(kind="users", key="a@b.c", misp_id="4", uuid=None, fields=frozenset(),
                                   fingerprint="{}"))

    assert store.owned_kinds("prod") == {"organisations", "tags"} == {kind for kind, _ in store.ledger("prod")}
    assert store.owned_kinds("nowhere") == set()


def test_a_ledger_read_without_times_differs_only_by_updated_at(store: StateStore) -> None:
    store.own("prod", owned("CIRCL", fields=frozenset({"name", "nationality"}), fingerprint='{"name": "a"}'))
    store.own("prod", owned("ACME", misp_id="8"))

    full, light = store.ledger("prod"), store.ledger("prod", times=False)

    assert all(obj.updated_at is None for obj in light.values())
    assert light == {key: dataclasses.replace(obj, updated_at=None) for key, obj in full.items()}


def test_own_replaces_the_row_and_disown_forgets_it(store: StateStore) -> None:
    store.own("prod", owned("CIRCL", fingerprint='{"name": "a"}'))
    store.own("prod", owned("CIRCL", misp_id="12", fingerprint='{"name": "b"}'))

    assert store.owned("prod", "organisations", "CIRCL") == store.ledger("prod")[("organisations", "CIRCL")]
    assert [(o.misp_id, o.fingerprint) for o in store.ledger("prod").values()] == [("12", '{"name": "b"}')]
    assert store.disown("prod", "organisations", "CIRCL") is True
    assert store.disown("prod", "organisations", "CIRCL") is False
    assert store.ledger("prod") == {}
    assert store.owned("prod", "organisations", "CIRCL") is None


def test_lineage_binds_one_misp_and_counts_applies(store: StateStore) -> None:
    assert store.lineage("prod") is None
    assert store.bump_serial("prod") == 1
    store.set_lineage("prod", "5f0b-misp-uuid")
    assert store.bump_serial("prod") == 2

    lineage = store.lineage("prod")

    assert lineage is not None
    assert (lineage.instance, lineage.misp_uuid, lineage.serial) == ("prod", "5f0b-misp-uuid", 2)
    assert store.instances() == ["prod"]


def test_a_secret_that_reaches_the_ledger_is_scrubbed(store: StateStore) -> None:
    canary = CANARIES.get("ledger-authkey")
    REDACTOR.register(canary)
    store.own("prod", owned("CIRCL", fingerprint=f'{{"authkey": "{canary}"}}'))

    assert store.ledger("prod")[("organisations", "CIRCL")].fingerprint == '{"authkey": "(secret)"}'
    with store.engine.connect() as conn:
        dumped = repr(conn.execute(sa.text("SELECT * FROM ledger")).all())
    assert canary not in dumped


def test_a_long_read_does_not_hold_up_writes(store: StateStore) -> None:
    """`audit verify` or `state export` on a big state while an apply journals: the apply is not stalled."""
    from reconciler.state.db import reading

    store.own("prod", owned("before"))
    with reading(store.engine) as reader:
        seen = reader.execute(sa.text("SELECT COUNT(*) FROM ledger")).scalar()  # the read transaction is open
        store.own("prod", owned("during"))  # would wait out the busy timeout and fail if reads locked
        assert seen == 1
    assert sorted(key for _kind, key in store.ledger("prod")) == ["before", "during"]

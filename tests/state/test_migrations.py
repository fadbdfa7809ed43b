"""The schema is versioned with the packaged Alembic migrations, run programmatically."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reconciler.state import StateStore, UnknownRevision, migrate
from reconciler.state.db import create_engine
from reconciler.state.schema import metadata


def test_a_fresh_database_is_created_at_head(state_url: str) -> None:
    store = StateStore.open(state_url)
    try:
        assert store.revision() == migrate.head_revision() == "0003"
    finally:
        store.close()


def test_the_migrations_build_exactly_the_declared_schema(state_url: str) -> None:
    store = StateStore.open(state_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences: list[Any] = compare_metadata(context, metadata)
    finally:
        store.close()
    assert differences == []


def test_an_old_revision_upgrades_and_keeps_its_rows(state_url: str) -> None:
    engine = create_engine(state_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO ledger (instance, kind, key, misp_id, uuid, fields, fingerprint, "
                             "updated_at) VALUES ('prod', 'roles', 'Analyst', '9', NULL, '[\"name\"]', '{}', "
                             "CURRENT_TIMESTAMP)"))
    engine.dispose()

    with pytest.raises(UnknownRevision, match="state migrate"):
        StateStore.open(state_url, upgrade=False)

    store = StateStore.connect(state_url)  # as `state migrate` does: open as is, then upgrade explicitly
    try:
        assert store.migrate() == ("0001", "0003")
        assert store.migrate() == ("0003", "0003")  # running it again changes nothing
        assert store.ledger("prod")[("roles", "Analyst")].fields == frozenset({"name"})
        store.audit_append("prod", None, {"after": "upgrade"})
        assert store.audit_verify("prod").ok
    finally:
        store.close()


def test_open_upgrades_an_old_database_by_default(state_url: str) -> None:
    engine = create_engine(state_url)
    migrate.upgrade(engine, "0001")
    engine.dispose()

    store = StateStore.open(state_url)
    try:
        assert store.revision() == "0003"
    finally:
        store.close()


def test_a_database_from_a_newer_version_is_refused(state_url: str) -> None:
    StateStore.open(state_url).close()
    engine = create_engine(state_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()

    with pytest.raises(UnknownRevision, match="9999, which this version of misp-reconciler does not know"):
        StateStore.open(state_url)

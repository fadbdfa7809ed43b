"""Every state test runs on SQLite and on PostgreSQL (a fresh database per test).

PostgreSQL tests need MISP_RECONCILER_TEST_PG_URL (`. .ci/postgres.sh` starts a throwaway server and sets
it); without it they skip and say so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reconciler.state import StateStore
from tests.canaries import CANARIES

PG_ENV = "MISP_RECONCILER_TEST_PG_URL"
def canaries_in_database(url: str) -> list[str]:
    """The canaries (by name) in any row of any table: the end-of-session file sweep cannot see PostgreSQL."""
    engine = sa.create_engine(url)
    found: set[str] = set()
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                rows = conn.execute(sa.text(f'SELECT CAST(t AS text) FROM "{table}" AS t')).scalars()
                found.update(CANARIES.find("\x00".join(rows).encode("utf-8", "surrogateescape")))
    finally:
        engine.dispose()
    return sorted(found)


PG_SKIP = (f"{PG_ENV} is not set: no PostgreSQL to test against. Run `. .ci/postgres.sh` from the repository "
           "root to start a throwaway server on 127.0.0.1 and set it.")


def sqlite_url(directory: Path, name: str = "test") -> str:
    return f"sqlite:///{directory / 'state' / f'{name}.db'}"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; searched for canaries, then dropped."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    name = f"state_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
        leaked = canaries_in_database(url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    if leaked:
        pytest.fail(f"canary secret(s) {leaked} in the PostgreSQL state database {name}", pytrace=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    opened = StateStore.open(state_url)
    yield opened
    opened.close()

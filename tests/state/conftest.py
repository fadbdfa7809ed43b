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

PG_ENV = "MISP_RECONCILER_TEST_PG_URL"
PG_SKIP = (f"{PG_ENV} is not set: no PostgreSQL to test against. Run `. .ci/postgres.sh` from the repository "
           "root to start a throwaway server on 127.0.0.1 and set it.")


def sqlite_url(directory: Path, name: str = "test") -> str:
    return f"sqlite:///{directory / 'state' / f'{name}.db'}"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    name = f"state_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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

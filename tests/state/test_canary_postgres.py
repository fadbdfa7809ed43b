"""PostgreSQL state databases are searched for canaries before they are dropped (the file sweep cannot)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.state.conftest import canaries_in_database


@pytest.mark.postgres
def test_a_canary_in_any_postgresql_row_is_found_by_name(pg_database: str, canary: Callable[[str], str]) -> None:
    engine = sa.create_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE runs (id int, detail jsonb)"))
            conn.execute(sa.text("INSERT INTO runs VALUES (1, CAST(:d AS jsonb))"),
                         {"d": f'{{"authkey": "{canary("pg-row")}"}}'})
        assert canaries_in_database(pg_database) == ["pg-row"]
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE runs"))  # or this test's teardown would report it, as it should
    finally:
        engine.dispose()
    assert canaries_in_database(pg_database) == []

"""Alembic environment: always given an open connection by `reconciler.state.migrate`, never a URL or ini."""

from __future__ import annotations

from alembic import context

from reconciler.state.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=True)  # SQLite cannot ALTER most things; batch mode copies the table
with context.begin_transaction():
    context.run_migrations()

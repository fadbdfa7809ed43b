"""Alembic migrations for the state database, shipped inside the package and run by `migrate.py`."""

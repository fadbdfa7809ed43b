"""Approvers pinned by the last signed apply.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvers",
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("keyring", sa.Text, nullable=False),
        sa.Column("fingerprints", sa.JSON, nullable=False),
        sa.Column("min", sa.Integer, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance", name="pk_approvers"),
    )


def downgrade() -> None:
    op.drop_table("approvers")

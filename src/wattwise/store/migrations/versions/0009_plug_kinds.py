"""plug kinds

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 01:45:00.000000

Which kind of smart plug each meter is (``store/schema.py`` ``plug_kinds``), so relay
commands reach it in its own language.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plug_kinds",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("switch", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("plug_kinds")

"""plug held state

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 04:00:00.000000

What a Shelly or ESPHome plug's next message is read against (``store/schema.py``
``plug_held``): kept in the store, not in one server process, because the broker's shared
subscription hands one plug's messages to whichever process is free.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plug_held",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("plug_held")

"""provisional appliance runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 13:10:00.000000

A run may be stored before it is final (a fridge's rhythm chain decides its runs hours
late): ``final`` is false for those, true for every run stored before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appliance_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM appliance_runs WHERE NOT final"))
    with op.batch_alter_table("appliance_runs", schema=None) as batch_op:
        batch_op.drop_column("final")

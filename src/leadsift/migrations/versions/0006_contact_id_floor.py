"""The contact id floor: on SQLite, ids of deleted contacts are never given again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_id_floor",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_contact_id_floor")),
    )


def downgrade() -> None:
    op.drop_table("contact_id_floor")

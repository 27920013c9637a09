"""Report speed: the agents report per day of qualification and owner (agent_days, recomputed by
the worker's pass), each contact's last event and whether it bought (contact_activity, for
remarketing, copied beside each interest score in contact_scores), and a partial index on the
facts' qualification time.

Both tables are filled by the first refresh after the upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTS = ("prospects", "open", "touched", "calls", "won", "lost")


def upgrade() -> None:
    op.create_table(
        "agent_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", name=op.f("pk_agent_days")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "contact_activity",
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bought", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_activity_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_activity")),
    )
    with op.batch_alter_table("contact_scores") as batch_op:
        batch_op.add_column(sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("bought", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_funnel_facts_qualified_at",
        "funnel_facts",
        ["qualified_at"],
        unique=False,
        sqlite_where=sa.text("qualified_at IS NOT NULL"),
        postgresql_where=sa.text("qualified_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_funnel_facts_qualified_at", table_name="funnel_facts")
    with op.batch_alter_table("contact_scores") as batch_op:
        batch_op.drop_column("bought")
        batch_op.drop_column("last_event_at")
    op.drop_table("contact_activity")
    op.drop_table("agent_days")

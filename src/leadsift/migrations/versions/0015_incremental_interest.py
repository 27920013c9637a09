"""Incremental interest: each contact's decayed sums stored beside its interest score (with the
moment they are as of, in seconds since 1970, the interest model, the oldest and newest counted events), and the state
of the last `leadsift score` (its interest model, the event id its sums take in).

Existing rows get no sums: the first `leadsift score` after the upgrade computes everyone from the
events, as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CAPPED = tuple(f"capped_{slot}" for slot in range(8))


def upgrade() -> None:
    with op.batch_alter_table("contact_scores") as batch_op:
        batch_op.add_column(sa.Column("sums_epoch", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("model_key", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("oldest_epoch", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("newest_epoch", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("uncapped", sa.Float(), nullable=True))
        for name in _CAPPED:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Room in each page for the new version of every row `leadsift score` updates (HOT).
        op.execute("ALTER TABLE contact_scores SET (fillfactor = 50)")
    op.create_table(
        "interest_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.BigInteger(), nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interest_state")),
    )


def downgrade() -> None:
    op.drop_table("interest_state")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contact_scores RESET (fillfactor)")
    with op.batch_alter_table("contact_scores") as batch_op:
        for name in reversed(_CAPPED):
            batch_op.drop_column(name)
        for name in ("uncapped", "newest_epoch", "oldest_epoch", "model_key", "sums_epoch"):
            batch_op.drop_column(name)

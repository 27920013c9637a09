"""Analytics: costs, the funnel and event-day rollups with their cursors, attribution credits
and their day sums.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "costs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_costs")),
        sa.UniqueConstraint("origin", name=op.f("uq_costs_origin")),
    )
    op.create_index("ix_costs_campaign_day", "costs", ["campaign", "spent_on"], unique=False)
    op.create_table(
        "event_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("utm_source", sa.String(length=200), nullable=False),
        sa.Column("utm_campaign", sa.String(length=200), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_days")),
    )
    op.create_index(
        "uq_event_days_key",
        "event_days",
        ["day", "type", "campaign", "utm_source", "utm_campaign"],
        unique=True,
    )
    op.create_table(
        "rollup_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_cursors")),
    )
    op.create_table(
        "attribution_credits",
        sa.Column(
            "conversion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_attribution_credits_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversion_id", "model", "key", name=op.f("pk_attribution_credits")
        ),
    )
    op.create_index(
        op.f("ix_attribution_credits_contact_id"),
        "attribution_credits",
        ["contact_id"],
        unique=False,
    )
    op.create_table(
        "funnel_facts",
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("lead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unqualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unqualified_reason", sa.String(length=40), nullable=True),
        sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lost_reason", sa.String(length=40), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_funnel_facts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_funnel_facts")),
    )
    op.create_index("ix_funnel_facts_entered", "funnel_facts", ["entered_at"], unique=False)
    op.create_index(
        "ix_funnel_facts_converted",
        "funnel_facts",
        ["entered_at"],
        unique=False,
        sqlite_where=sa.text("customer_at IS NOT NULL"),
        postgresql_where=sa.text("customer_at IS NOT NULL"),
    )
    op.create_table(
        "attribution_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("conversions", sa.Float(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "model", "key", name=op.f("pk_attribution_days")),
    )


def downgrade() -> None:
    for table in (
        "attribution_days",
        "attribution_credits",
        "funnel_facts",
        "event_days",
        "rollup_cursors",
        "costs",
    ):
        op.drop_table(table)

"""Dashboard speed: the funnel counted per day of entry and group (funnel_days), spans counted
per whole day (funnel_spans), purchases per day and buyer's source or channel (purchase_days), the facts' source, region and span days, and partial indexes for
speed to lead (qualifications by time), the waiting list (qualified prospects by time) and ROI
(purchases by time).

The new rollups are built by the first refresh after the upgrade (from the funnel facts).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SPANS = {
    "days_to_convert": "seconds_to_convert",
    "days_to_lead": "hours_to_lead",
    "days_to_qualify": "hours_to_qualify",
    "days_to_win": "hours_to_win",
}
_COUNTS = ("contacts", "leads", "qualified", "customers", "unqualified", "lost", "in_progress")


def upgrade() -> None:
    with op.batch_alter_table("funnel_facts") as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("region", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("seconds_to_convert", sa.Float(), nullable=True))
        for column in ("hours_to_lead", "hours_to_qualify", "hours_to_win", *_SPANS):
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
    for days, value in _SPANS.items():
        op.create_index(
            f"ix_funnel_facts_{days}",
            "funnel_facts",
            [days, value, "entered_at"],
            unique=False,
            sqlite_where=sa.text(f"{days} IS NOT NULL"),
            postgresql_where=sa.text(f"{days} IS NOT NULL"),
        )
    op.create_table(
        "funnel_days",
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.PrimaryKeyConstraint("dimension", "day", "value", name=op.f("pk_funnel_days")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "funnel_spans",
        sa.Column("measure", sa.String(length=10), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "measure", "dimension", "day", "value", "days", name=op.f("pk_funnel_spans")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "purchase_days",
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "day", "value", name=op.f("pk_purchase_days")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_stage_changes_qualified_at",
        "stage_changes",
        ["changed_at", "contact_id"],
        unique=False,
        sqlite_where=sa.text("to_stage = 'qualified'"),
        postgresql_where=sa.text("to_stage = 'qualified'"),
    )
    op.create_index(
        "ix_events_conversions_at",
        "events",
        ["occurred_at"],
        unique=False,
        sqlite_where=sa.text("type IN ('purchase', 'promo_redeemed')"),
        postgresql_where=sa.text("type IN ('purchase', 'promo_redeemed')"),
    )
    op.create_index(
        "ix_contacts_qualified_since",
        "contacts",
        ["stage_changed_at", "id"],
        unique=False,
        sqlite_where=sa.text("stage = 'qualified'"),
        postgresql_where=sa.text("stage = 'qualified'"),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_qualified_since", table_name="contacts")
    op.drop_index("ix_events_conversions_at", table_name="events")
    op.drop_index("ix_stage_changes_qualified_at", table_name="stage_changes")
    op.drop_table("purchase_days")
    op.drop_table("funnel_spans")
    op.drop_table("funnel_days")
    for column in _SPANS:
        op.drop_index(f"ix_funnel_facts_{column}", table_name="funnel_facts")
    with op.batch_alter_table("funnel_facts") as batch_op:
        for column in (*_SPANS, *_SPANS.values(), "region", "source"):
            batch_op.drop_column(column)

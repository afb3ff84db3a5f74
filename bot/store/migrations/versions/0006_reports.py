"""Scheduled reports: run claims (exactly once), digest snapshots (trends), channel faults.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

REF = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("schedule_id", sa.String(100), primary_key=True),
        sa.Column("scheduled_for", sa.String(32), primary_key=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("posts", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "report_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", REF, nullable=False),
        sa.Column("schedule_id", sa.String(100), nullable=False),
        sa.Column("scheduled_for", sa.String(32), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_change_id", sa.Integer, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.UniqueConstraint(
            "scope", "schedule_id", "scheduled_for", name="uq_report_snapshots_run"
        ),
    )
    op.create_index("ix_report_snapshots_scope", "report_snapshots", ["scope", "id"])
    op.create_table(
        "channel_faults",
        sa.Column("platform", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("scope", REF),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("channel_faults")
    op.drop_index("ix_report_snapshots_scope", table_name="report_snapshots")
    op.drop_table("report_snapshots")
    op.drop_table("report_runs")

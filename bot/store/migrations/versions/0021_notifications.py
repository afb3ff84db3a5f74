"""Change notifications: the cursor over the change log, conditions told, the outbox, and
channel subscriptions.

Revision ID: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

REF = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "notify_cursor",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_change_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notify_conditions",
        sa.Column("ref", REF, primary_key=True),
        sa.Column("condition", sa.String(20), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_notify_outbox_due", "notify_outbox", ["status", "not_before"])
    op.create_table(
        "notify_subscriptions",
        sa.Column("platform", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("target", REF, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_subscriptions")
    op.drop_table("notify_outbox")
    op.drop_table("notify_conditions")
    op.drop_table("notify_cursor")

"""Chat deliveries claimed by one replica (Slack retries answered once across replicas).

Revision ID: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_claims",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_claims_claimed_at", "delivery_claims", ["claimed_at"])


def downgrade() -> None:
    op.drop_table("delivery_claims")

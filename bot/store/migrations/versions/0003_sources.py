"""Runtime locations: repositories registered while Callboard runs (by the scaffolder).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_locations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(320)),
        sa.UniqueConstraint("url", "ref", "path", name="uq_runtime_locations_target"),
    )


def downgrade() -> None:
    op.drop_table("runtime_locations")

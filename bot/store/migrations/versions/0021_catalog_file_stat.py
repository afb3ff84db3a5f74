"""The stat of each catalog file as last read: a no-change sync skips reading and hashing it.

Revision ID: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("catalog_files", sa.Column("stat", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_files") as batch:
        batch.drop_column("stat")

"""The stat of each catalog file as last read: a no-change sync skips reading and hashing it.
And an index on the lower-cased entity name: an exact name asked before the name index is
built is a lookup, not a scan of a million entities.

Revision ID: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("catalog_files", sa.Column("stat", sa.String(120), nullable=True))
    op.create_index("ix_entities_name_lower", "entities", [sa.text("lower(name)")])


def downgrade() -> None:
    op.drop_index("ix_entities_name_lower", "entities")
    with op.batch_alter_table("catalog_files") as batch:
        batch.drop_column("stat")

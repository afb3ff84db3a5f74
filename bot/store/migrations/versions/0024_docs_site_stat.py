"""What a docs site's inputs looked like when last indexed, so a no-change sync skips it:
the entity's content hash (its techdocs-ref is then not parsed again) and a hash of the
stats of the site folder, mkdocs.yml and every folder and Markdown page of the docs tree.

Revision ID: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
# Also merges the docs branch (0002, 0002b: it starts at 0001, beside 0020-0023), whose
# docs_sites table this alters.
down_revision = ("0023", "0002b")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("docs_sites", sa.Column("entity_hash", sa.String(64), nullable=True))
    op.add_column("docs_sites", sa.Column("stat", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("docs_sites") as batch:
        batch.drop_column("stat")
        batch.drop_column("entity_hash")

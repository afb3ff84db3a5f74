"""Docs index: a titles-only tsvector with its own GIN index on PostgreSQL.

Docs search looks at title matches first. On PostgreSQL a GIN index cannot tell weights
apart, so restricting ``tsv`` to weight A still rechecks every body match of a common word;
this column makes the title pass touch title matches only. SQLite's FTS5 filters columns
itself (``{title page_title}:``) and needs nothing here.

Revision ID: 0002b
"""

from alembic import op

revision = "0002b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """ALTER TABLE docs_sections ADD COLUMN title_tsv tsvector GENERATED ALWAYS AS (
            to_tsvector('english'::regconfig, title || ' ' || page_title)
        ) STORED"""
    )
    op.execute("CREATE INDEX ix_docs_sections_title_tsv ON docs_sections USING GIN (title_tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_docs_sections_title_tsv")
    op.execute("ALTER TABLE docs_sections DROP COLUMN IF EXISTS title_tsv")

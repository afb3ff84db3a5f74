"""Docs index: sites, pages, sections, and each database's own full-text index over sections.

SQLite: an external-content FTS5 table ``docs_fts`` (porter stemming, prefix indexes) kept in
step with ``docs_sections`` by triggers. PostgreSQL: a stored generated ``tsvector`` column
``docs_sections.tsv`` (section and page titles weight A, body B, entity and site names C) with
a GIN index. Either way the indexer writes plain rows and the database keeps the index.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REF = sa.String(320)

FTS_COLUMNS = "title, page_title, site, body"
SQLITE_DDL = (
    f"""CREATE VIRTUAL TABLE docs_fts USING fts5(
        {FTS_COLUMNS}, content='docs_sections', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 4')""",
    f"""CREATE TRIGGER docs_sections_ai AFTER INSERT ON docs_sections BEGIN
        INSERT INTO docs_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.page_title, new.site, new.body);
    END""",
    f"""CREATE TRIGGER docs_sections_ad AFTER DELETE ON docs_sections BEGIN
        INSERT INTO docs_fts(docs_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.page_title, old.site, old.body);
    END""",
    f"""CREATE TRIGGER docs_sections_au AFTER UPDATE ON docs_sections BEGIN
        INSERT INTO docs_fts(docs_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.page_title, old.site, old.body);
        INSERT INTO docs_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.page_title, new.site, new.body);
    END""",
)
POSTGRES_DDL = (
    """ALTER TABLE docs_sections ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title || ' ' || page_title), 'A')
        || setweight(to_tsvector('english'::regconfig, body), 'B')
        || setweight(to_tsvector('english'::regconfig, site), 'C')
    ) STORED""",
    "CREATE INDEX ix_docs_sections_tsv ON docs_sections USING GIN (tsv)",
)


def upgrade() -> None:
    op.create_table(
        "docs_sites",
        sa.Column("entity_ref", REF, primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("techdocs_ref", sa.Text, nullable=False),
        sa.Column("site_dir", sa.Text),
        sa.Column("repo_path", sa.Text),
        sa.Column("docs_dir", sa.String(1024)),
        sa.Column("site_name", sa.Text),
        sa.Column("site_description", sa.Text),
        sa.Column("nav", sa.Text, nullable=False),
        sa.Column("input_hash", sa.String(64)),
        sa.Column("git_head", sa.String(64)),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("sections", sa.Integer, nullable=False),
        sa.Column("words", sa.Integer, nullable=False),
        sa.Column("nav_missing", sa.Text, nullable=False),
        sa.Column("folder_missing", sa.Integer, nullable=False),
        sa.Column("docs_updated", sa.DateTime(timezone=True)),
        sa.Column("code_updated", sa.DateTime(timezone=True)),
        sa.Column("dates_from", sa.String(10)),
        sa.Column("problems", sa.Text, nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "docs_pages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_ref", REF, nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("in_nav", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("word_count", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True)),
        sa.Column("updated_from", sa.String(10)),
        sa.UniqueConstraint("entity_ref", "path", name="uq_docs_pages_entity_path"),
    )
    op.create_index("ix_docs_pages_entity_ref", "docs_pages", ["entity_ref"])
    op.create_table(
        "docs_sections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("page_id", sa.Integer, nullable=False),
        sa.Column("entity_ref", REF, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("anchor", sa.String(512), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("page_title", sa.Text, nullable=False),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_docs_sections_page_id", "docs_sections", ["page_id"])
    op.create_index("ix_docs_sections_entity_ref", "docs_sections", ["entity_ref"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for ddl in SQLITE_DDL:
            op.execute(ddl)
    elif dialect == "postgresql":
        for ddl in POSTGRES_DDL:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("docs_sections_ai", "docs_sections_ad", "docs_sections_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS docs_fts")
    op.drop_table("docs_sections")
    op.drop_table("docs_pages")
    op.drop_table("docs_sites")

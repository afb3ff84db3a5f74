"""Catalog tables: entities, relations, files, problems, changes, source status, meta.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

REF = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("ref", REF, primary_key=True),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("owner_ref", REF),
        sa.Column("spec_type", sa.String(255)),
        sa.Column("lifecycle", sa.String(255)),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_entities_kind", "entities", ["kind"])
    op.create_index("ix_entities_owner_ref", "entities", ["owner_ref"])
    op.create_index("ix_entities_source", "entities", ["source"])
    op.create_table(
        "relations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_ref", REF, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("target_ref", REF, nullable=False),
        sa.Column("emitter_ref", REF, nullable=False),
    )
    op.create_index("ix_relations_emitter_ref", "relations", ["emitter_ref"])
    op.create_index("ix_relations_source_type", "relations", ["source_ref", "type"])
    op.create_table(
        "catalog_files",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64)),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("children", sa.Text, nullable=False),
        sa.Column("entity_refs", sa.Text, nullable=False),
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("file", sa.String(1024)),
        sa.Column("line", sa.Integer),
        sa.Column("entity", REF),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_problems_source", "problems", ["source"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("ref", REF, nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("old_owner", REF),
        sa.Column("new_owner", REF),
    )
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_table(
        "source_status",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("last_attempt", sa.DateTime(timezone=True)),
        sa.Column("last_success", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("entity_count", sa.Integer, nullable=False),
        sa.Column("duration_ms", sa.Integer),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "meta",
        "source_status",
        "changes",
        "problems",
        "catalog_files",
        "relations",
        "entities",
    ):
        op.drop_table(table)

"""Attestation campaigns, the entities each asks about, and every answer (issue 19).

Revision ID: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

REF = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "attest_campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remind_every_s", sa.Integer),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "attest_items",
        sa.Column("campaign_id", sa.Integer, primary_key=True),
        sa.Column("entity_ref", REF, primary_key=True),
        sa.Column("team_ref", REF, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
    )
    op.create_table(
        "attest_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("entity_ref", REF, nullable=False),
        sa.Column("team_ref", REF, nullable=False),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("user_ref", REF),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("named_team", REF),
    )
    op.create_index("ix_attest_answers_campaign", "attest_answers", ["campaign_id", "id"])


def downgrade() -> None:
    op.drop_table("attest_answers")
    op.drop_table("attest_items")
    op.drop_table("attest_campaigns")

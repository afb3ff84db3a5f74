"""Each relation stored once: a row of a reverse type (``ownerOf``, ``hasMember``...) becomes its
canonical pair, swapped (``G ownerOf X`` from emitter ``X`` is ``X ownedBy G`` from ``X``); rows
that are then the same relation from the same emitter are one; reads derive the reverse by
target_ref, through a new index on (target_ref, type).

The pairs are written out here (not imported from ``bot.catalog.model``): a migration keeps
meaning what it meant when it was written.

Revision ID: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# reverse type -> canonical type (bot.catalog.model.DERIVED as of this revision)
_DERIVED = {
    "ownerOf": "ownedBy",
    "hasPart": "partOf",
    "apiProvidedBy": "providesApi",
    "apiConsumedBy": "consumesApi",
    "dependencyOf": "dependsOn",
    "hasMember": "memberOf",
    "parentOf": "childOf",
}


def _mapped(pairs: dict[str, str]) -> str:
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in sorted(pairs.items()))
    return f"CASE type {cases} END"


def _listed(types: dict[str, str]) -> str:
    return ", ".join(f"'{t}'" for t in sorted(types))


def upgrade() -> None:
    # Both sides of SET read the row as it was (SQLite and PostgreSQL alike): a swap.
    op.execute(
        sa.text(
            "UPDATE relations SET source_ref = target_ref, target_ref = source_ref, "
            f"type = {_mapped(_DERIVED)} WHERE type IN ({_listed(_DERIVED)})"
        )
    )
    # Every file-sourced relation was stored both ways by its emitter: now twice the same row.
    # The lowest id of each (source, type, target, emitter) stays; the emitter's index finds
    # the others.
    op.execute(
        sa.text(
            "DELETE FROM relations WHERE EXISTS (SELECT 1 FROM relations AS kept "
            "WHERE kept.emitter_ref = relations.emitter_ref "
            "AND kept.source_ref = relations.source_ref AND kept.type = relations.type "
            "AND kept.target_ref = relations.target_ref AND kept.id < relations.id)"
        )
    )
    op.create_index("ix_relations_target_type", "relations", ["target_ref", "type"])


def downgrade() -> None:
    op.drop_index("ix_relations_target_type", "relations")
    # Back to both directions: each canonical row's reverse, from the same emitter.
    canonical = {new: old for old, new in _DERIVED.items()}
    op.execute(
        sa.text(
            "INSERT INTO relations (source_ref, type, target_ref, emitter_ref) "
            f"SELECT target_ref, {_mapped(canonical)}, source_ref, emitter_ref FROM relations "
            f"WHERE type IN ({_listed(canonical)})"
        )
    )

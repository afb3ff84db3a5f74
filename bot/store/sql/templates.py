"""The catalog's Backstage ``Template`` entities, as the scaffolder's library reads them."""

from __future__ import annotations

from sqlalchemy import select

from bot.scaffold.model import TemplateEntity
from bot.store.db import Database
from bot.store.schema import entities


class SqlCatalogTemplates:
    """``bot.ports.CatalogTemplates`` over the ``entities`` table (blocking: the library runs
    in a worker thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def template_entities(self) -> list[TemplateEntity]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(entities.c.ref, entities.c.source, entities.c.file, entities.c.data)
                .where(entities.c.kind == "template")
                .order_by(entities.c.ref)
            ).all()
        return [TemplateEntity(r.ref, r.source, r.file, r.data) for r in rows]

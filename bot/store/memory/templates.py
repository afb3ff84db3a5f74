"""The catalog's Template entities in memory (``bot.ports.CatalogTemplates``), for tests."""

from __future__ import annotations

from collections.abc import Iterable

from bot.scaffold.model import TemplateEntity
from bot.store.memory.catalog import MemoryCatalogRows


class MemoryCatalogTemplates:
    """Template entities as given, by ref."""

    def __init__(self, entities: Iterable[TemplateEntity] = ()) -> None:
        self.entities = sorted(entities, key=lambda e: e.ref)

    def template_entities(self) -> list[TemplateEntity]:
        return list(self.entities)


class CatalogTemplatesOf:
    """``bot.ports.CatalogTemplates`` over a memory catalog: its entities of kind ``template``."""

    def __init__(self, rows: MemoryCatalogRows) -> None:
        self.rows = rows

    def template_entities(self) -> list[TemplateEntity]:
        return [
            TemplateEntity(ref, source, file, data)
            for ref, source, file, data in self.rows.stored_documents("template")
        ]

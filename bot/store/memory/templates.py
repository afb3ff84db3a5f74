"""The catalog's Template entities in memory (``bot.ports.CatalogTemplates``), for tests."""

from __future__ import annotations

from collections.abc import Iterable

from bot.scaffold.model import TemplateEntity


class MemoryCatalogTemplates:
    """Template entities as given, by ref."""

    def __init__(self, entities: Iterable[TemplateEntity] = ()) -> None:
        self.entities = sorted(entities, key=lambda e: e.ref)

    def template_entities(self) -> list[TemplateEntity]:
        return list(self.entities)

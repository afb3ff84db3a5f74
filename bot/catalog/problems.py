"""A problem found while reading the catalog: what, where, and how bad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One error or warning, tied to a file (and line) and, where known, an entity."""

    level: Level
    message: str
    file: str | None = None
    line: int | None = None
    entity: str | None = None

    def __str__(self) -> str:
        where = self.file or "<source>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        who = f" [{self.entity}]" if self.entity else ""
        tag = "" if self.level == "error" else "warning: "
        return f"{where}: {tag}{self.message}{who}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "entity": self.entity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        level: Level = "warning" if data.get("level") == "warning" else "error"
        return cls(
            level, str(data["message"]), data.get("file"), data.get("line"), data.get("entity")
        )

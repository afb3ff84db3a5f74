"""Runtime locations in memory (``RuntimeLocationStore``): repositories the scaffolder
registered, for the fast unit tier."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from bot.catalog.locations import RuntimeLocation


class MemoryLocations:
    """Registered repositories in a list, oldest first; ids count from 1, never reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locations: list[RuntimeLocation] = []
        self._next = 1

    def all(self) -> list[RuntimeLocation]:
        with self._lock:
            return list(self._locations)

    def find(self, url: str, ref: str | None, path: str) -> RuntimeLocation | None:
        with self._lock:
            return next(
                (
                    loc
                    for loc in self._locations
                    if (loc.url, loc.ref or "", loc.path) == (url, ref or "", path)
                ),
                None,
            )

    def add(
        self, url: str, ref: str | None, path: str, added_at: dt.datetime, added_by: str | None
    ) -> None:
        """Store a location; one already registered (same url, ref and path) is kept."""
        if self.find(url, ref, path) is not None:
            return
        with self._lock:
            self._locations.append(
                RuntimeLocation(self._next, url, ref or None, path, added_at, added_by)
            )
            self._next += 1

    def remove(self, location_id: int) -> RuntimeLocation | None:
        with self._lock:
            for loc in self._locations:
                if loc.id == location_id:
                    self._locations.remove(loc)
                    return dataclasses.replace(loc)
        return None

    def any(self) -> bool:
        with self._lock:
            return bool(self._locations)

"""Which copy of an entity is kept when two files hold the same ref: the first one reached.

Files are reached in walk order (first source, then first file, then first document); a later
copy is a duplicate and is not stored. ``CatalogSync`` and ``callboard check`` both ask
``first_reached``, so the check reports exactly the duplicates a sync would drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def first_reached(kept: Mapping[str, T], ref: str) -> T | None:
    """What already holds ``ref`` (a later copy of it is then a duplicate), or None."""
    return kept.get(ref)

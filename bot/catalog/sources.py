"""Catalog sources: where entities come from. A source yields files; sync does the rest."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.catalog.files import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_PLACEHOLDER_FILE_BYTES,
    DEFAULT_PLACEHOLDER_SYNC_BYTES,
    MAX_GLOB_MATCHES,
    PARALLEL_MIN_BYTES,
    FileRead,
    FileTree,
    KnownFile,
    iter_walk,
)
from bot.errors import SourceError


class CatalogSource(Protocol):
    """Anything that can produce the catalog files of one configured source."""

    name: str
    type: str

    @property
    def location(self) -> str:
        """Where it reads from, for status and for finding docs next to entities."""
        ...

    def read(
        self, known: Mapping[str, KnownFile], force: bool = False, prepare: bool = False
    ) -> Iterable[FileRead]:
        """Every file reachable from the source's entry, first-reached first.

        Raises ``SourceError`` when the source cannot be read at all (its last good entities
        are then kept), possibly only as its files are iterated (a source may yield each file
        as it reaches it: the sync takes them a batch at a time, and closes what it does not
        exhaust); problems with single files are reported on those files instead.
        With ``prepare``, a source may validate each parsed file's entities as it reads it
        (``FileRead.prepared``), in parse workers where it has them; sync uses what it finds.
        """
        ...


@dataclass
class FileSource:
    """A catalog or Location file on disk; targets are confined to ``root``."""

    name: str
    entry: Path  # the catalog or Location file
    root: Path  # directory every target must stay inside (default: the entry's directory)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    parse_workers: int = 0  # worker processes for a large parse (see ``walk``)
    parallel_min_bytes: int = PARALLEL_MIN_BYTES
    placeholder_file_bytes: int = DEFAULT_PLACEHOLDER_FILE_BYTES
    placeholder_sync_bytes: int = DEFAULT_PLACEHOLDER_SYNC_BYTES
    relative_placeholders: str = "resolve"  # or "drop", as a Backstage file location
    max_glob_matches: int = MAX_GLOB_MATCHES
    type: str = "file"
    # What the last walk of this process read (stat and hash per file), for the next one.
    _memo: dict[str, str] = field(default_factory=dict, repr=False)  # files.memo_entry by path

    @property
    def location(self) -> str:
        return str(self.root)

    def tree(self) -> FileTree:
        return FileTree(self.root, self.max_file_bytes)

    def read(
        self, known: Mapping[str, KnownFile], force: bool = False, prepare: bool = False
    ) -> Generator[FileRead, None, None]:
        tree = FileTree(
            self.root,
            self.max_file_bytes,
            self._memo,
            placeholder_file_bytes=self.placeholder_file_bytes,
            placeholder_sync_bytes=self.placeholder_sync_bytes,
            relative_placeholders=self.relative_placeholders,
            max_glob_matches=self.max_glob_matches,
        )
        if not tree.root.is_dir():
            raise SourceError(f"source {self.name}: root directory {self.root} does not exist")
        try:
            entry = tree.relative(self.entry)
        except Exception:
            raise SourceError(
                f"source {self.name}: {self.entry} is outside its root directory {self.root}"
            ) from None
        return self._walk(tree, entry, known, force, prepare)

    def _walk(
        self,
        tree: FileTree,
        entry: str,
        known: Mapping[str, KnownFile],
        force: bool,
        prepare: bool,
    ) -> Generator[FileRead, None, None]:
        reads = iter_walk(
            tree, entry, known, force, self.parse_workers, self.parallel_min_bytes, prepare
        )
        try:
            first = next(reads)
            if not first.readable:
                raise SourceError(f"source {self.name}: {first.problems[0]}")
            yield first
            yield from reads
        finally:
            reads.close()
        self._memo = tree.memo_next  # only once every file was reached

"""Where an entity's docs live: ``backstage.io/techdocs-ref`` resolved to a folder on disk.

``dir:<path>`` is relative to the entity's catalog file, inside its source's folder (the
source root for a file source, the checkout for a git source), and must stay inside it.
``url:<repository URL>[/tree/<branch>/<sub>]`` must point into a configured source that holds
that repository (a source offering ``local_path_for(url)``); Callboard reads no other URL.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.annotations import TECHDOCS_REF
from bot.catalog.files import RealPaths as FolderRealPaths
from bot.catalog.sources import CatalogSource


@runtime_checkable
class RepositoryCheckout(Protocol):
    """A catalog source with a local clone that can place a repository URL inside it."""

    def local_path_for(self, url: str) -> Path | None:
        """The local folder ``url`` (a repository or tree URL) names, or ``None``."""
        ...


@dataclass(frozen=True)
class SiteLocation:
    """A docs site found on disk."""

    site_dir: Path  # the folder holding mkdocs.yml (absolute, resolved)
    root: Path  # the folder every docs path must stay inside (the source's root)
    repo_path: str  # site_dir relative to the entity file's folder ("." for dir:.)


class Unlocated(Exception):
    """The annotation cannot be followed; the message says why (an error or a warning)."""

    def __init__(self, message: str, level: str = "error") -> None:
        super().__init__(message)
        self.level = level


def source_root(source: CatalogSource) -> Path | None:
    """A source's local folder: ``root`` when it has one, else ``location`` if it is a folder."""
    root = getattr(source, "root", None)
    if isinstance(root, Path):
        return root.resolve()
    location = source.location
    if location and "://" not in location:
        path = Path(location)
        if path.is_dir():
            return path.resolve()
    return None


def split_ref(value: str) -> tuple[str, str]:
    """``dir:.`` → (``dir``, ``.``): split on the first colon only, as Backstage does."""
    kind, sep, target = value.strip().partition(":")
    if not sep or not kind or not target:
        raise Unlocated(
            f"{TECHDOCS_REF} {value!r} is not of the form dir:<path> or url:<repository URL>"
        )
    return kind.strip().lower(), target.strip()


class RealPaths(FolderRealPaths):
    """``os.path.realpath`` remembered per folder: siblings share their parents' answers, so
    confining thousands of sites costs about one ``lstat`` each."""

    def __init__(self) -> None:
        super().__init__()
        self._roots: dict[int, Path | None] = {}

    def __call__(self, path: str) -> str:
        return self.folder(os.path.normpath(path) if os.path.isabs(path) else os.path.abspath(path))

    def root_of(self, source: CatalogSource) -> Path | None:
        if id(source) not in self._roots:
            self._roots[id(source)] = source_root(source)
        return self._roots[id(source)]


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it (both already resolved)."""
    p, r = str(path), str(root)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


def locate(
    value: str,
    entity_file: str | None,
    source: CatalogSource | None,
    sources: Sequence[CatalogSource],
    real: RealPaths | None = None,
) -> SiteLocation:
    """Resolve a techdocs-ref to a folder, or raise ``Unlocated`` saying why."""
    real = real or RealPaths()
    kind, target = split_ref(value)
    if kind == "dir":
        if source is None:
            raise Unlocated(f"{TECHDOCS_REF} {value}: the entity's source is no longer configured")
        root = real.root_of(source)
        if root is None:
            raise Unlocated(
                f"{TECHDOCS_REF} {value}: source {source.name} has no local folder to read docs "
                "from",
                "warning",
            )
        base_rel = posixpath.dirname(entity_file or "")
        if os.path.isabs(target) or target.startswith("\\"):
            raise Unlocated(f"{TECHDOCS_REF} {value} is an absolute path; it must be relative")
        site = Path(real(os.path.join(root, base_rel, target)))
        if not inside(site, root):
            raise Unlocated(
                f"{TECHDOCS_REF} {value} resolves outside the source folder {root}; not read"
            )
        repo_path = posixpath.normpath(target.replace("\\", "/"))
        return SiteLocation(site, root, repo_path)
    if kind == "url":
        for candidate in sources:
            if isinstance(candidate, RepositoryCheckout):
                local = candidate.local_path_for(target)
                if local is not None:
                    root = source_root(candidate) or local.resolve()
                    site = local.resolve()
                    if not site.is_relative_to(root):
                        raise Unlocated(
                            f"{TECHDOCS_REF} {value} resolves outside the checkout {root}; not read"
                        )
                    return SiteLocation(site, root, ".")
        raise Unlocated(
            f"{TECHDOCS_REF} {value}: no configured git source holds {_repo_of(target)}; "
            "add it as a catalog source to index these docs",
            "warning",
        )
    raise Unlocated(
        f"{TECHDOCS_REF} {value}: type {kind!r} is not supported (use dir: or url:)", "warning"
    )


_TREE = re.compile(r"/(?:-/)?(?:tree|blob|src)/.*$")


def _repo_of(url: str) -> str:
    return _TREE.sub("", url.rstrip("/"))

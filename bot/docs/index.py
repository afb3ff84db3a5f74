"""The docs indexer: after every sync, bring the docs index in line with the catalog, cheaply.

For each entity with ``backstage.io/techdocs-ref`` it finds the site (``discover``), reads
``mkdocs.yml`` (``mkdocs``), hashes every Markdown page under the docs folder, and re-splits
only the pages whose bytes (or title) changed; a site whose inputs all hash the same is
skipped. Before any of that, a site whose entity row and file stats (site folder, mkdocs.yml,
every folder and page of the docs tree, the repository's HEAD) match what was stored with it
(``docs_sites.stat``) is not read at all, so a no-change sync in a fresh process costs a few
stats per site, as the catalog's own files do (``catalog_files.stat``). Dates come from git,
one ``git log`` per repository (``gitdates``), else file times.
Every problem is kept for its entity (stored with the site, shown by ``callboard sync``):
one bad file never stops the other pages or sites from being indexed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import posixpath
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.annotations import TECHDOCS_REF
from bot.catalog.problems import Level, Problem
from bot.catalog.read import release_in_steps
from bot.catalog.sources import CatalogSource
from bot.catalog.sync import StepReport, SyncReport
from bot.docs.discover import RealPaths, SiteLocation, Unlocated, inside, locate
from bot.docs.gitdates import GitDates, Repo
from bot.docs.markdown import ParsedPage, parse_page, title_from_path
from bot.docs.mkdocs import MKDOCS_FILES, MkdocsConfig, NavEntry, parse_mkdocs
from bot.docs.model import DocsWrites, StoredPage, StoredSite
from bot.docs.settings import DocsSettings
from bot.errors import GitError
from bot.ports import DocsIndexStore

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

INDEX_VERSION = "1"  # bump when parsing changes, so every page is split again
MARKDOWN_SUFFIXES = (".md", ".markdown")
_BATCH_SECTIONS = 5000
MAX_MKDOCS_BYTES = 1024 * 1024


@dataclass
class DocsReport:
    """What one indexing pass did."""

    sites: int = 0
    sites_changed: int = 0
    sites_skipped: int = 0  # entity and file stats as last indexed: not read at all
    pages: int = 0
    pages_indexed: int = 0
    pages_removed: int = 0
    sections: int = 0
    removed_sites: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duration_s: float = 0.0
    disabled: str | None = None

    def summary(self) -> str:
        if self.disabled:
            return self.disabled
        errors = sum(1 for p in self.problems if p.level == "error")
        return (
            f"{self.sites} sites, {self.pages} pages, {self.sections} sections;"
            f" {self.sites_changed} sites and {self.pages_indexed} pages re-indexed,"
            f" {self.sites_skipped} sites unchanged and not read,"
            f" {self.pages_removed} pages and {len(self.removed_sites)} sites removed;"
            f" {errors} errors, {len(self.problems) - errors} warnings, {self.duration_s:.2f}s"
        )


@dataclass
class _Entity:
    ref: str
    source: str
    file: str | None
    name: str
    title: str | None
    techdocs_ref: str
    content_hash: str = ""


@dataclass
class _PageFile:
    path: str  # inside the docs folder
    abs: Path
    size: int
    mtime: float
    data: bytes | None  # None until read (an unchanged page is read only to split it again)
    sha256: str


@dataclass
class _Site:
    entity: _Entity
    location: SiteLocation | None
    config: MkdocsConfig | None = None
    mkdocs_file: Path | None = None
    docs_root: Path | None = None
    files: list[_PageFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    nav_missing: list[str] = field(default_factory=list)
    folder_missing: bool = False
    input_hash: str | None = None
    display_root: str = ""  # source-root-relative site folder, for problem messages
    mkdocs_sha: str | None = None
    mkdocs_mtime: float | None = None
    stat: str | None = None  # hash of its files' stats before they were read
    skipped: bool = False  # stats and entity as when last indexed: nothing read again

    @property
    def docs_rel(self) -> str:
        return self.config.docs_dir if self.config else "docs"

    def where(self, rel: str | None = None) -> str:
        base = self.display_root
        if rel is None:
            return base or "."
        return posixpath.normpath(posixpath.join(base, rel)) if base else rel

    def problem(self, level: str, message: str, rel: str | None = None) -> None:
        lvl: Level = "warning" if level == "warning" else "error"
        self.problems.append(Problem(lvl, message, self.where(rel), None, self.entity.ref))


class DocsIndexer:
    """Keeps ``docs_sites``, ``docs_pages`` and ``docs_sections`` in line with the catalog."""

    name = "docs"

    def __init__(
        self,
        store: DocsIndexStore,
        settings: DocsSettings,
        sources: Sequence[CatalogSource],
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.sources = list(sources)
        self.metrics = metrics  # the index's size after each pass
        self.git = GitDates()
        # (size, mtime_ns, cap) and hash of every page read, so an unchanged page is not read
        # again by the next sync of this process; mkdocs.yml files parsed likewise.
        self._seen: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._seen_before: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._real = RealPaths()
        self._refs: dict[tuple[str, str], str | None] = {}  # (ref, content hash) → techdocs-ref
        self._configs: dict[Path, tuple[tuple[int, int], str, Any]] = {}

    # The post-sync step protocol (``bot.catalog.sync.PostSyncStep``).
    def run(self, report: SyncReport, force: bool = False) -> StepReport:
        done = self.index(force=force)
        if self.metrics is not None and done.disabled is None:
            self.metrics.docs_index_size(sites=done.sites, pages=done.pages, sections=done.sections)
        return StepReport(self.name, done.summary(), list(done.problems), ok=done.disabled is None)

    def index(self, force: bool = False) -> DocsReport:
        """Index every entity's docs; an unchanged site costs a stat of each of its files
        (``force``: every site is read and every page split again)."""
        started = time.perf_counter()
        report = DocsReport()
        if not self.settings.enabled:
            report.disabled = "disabled (docs.enabled: false)"
            return report
        unsupported = self.store.unsupported()
        if unsupported is not None:
            report.disabled = unsupported
            return report
        self.git.forget_heads()
        self._seen_before, self._seen = self._seen, {}  # forget pages that went away
        self._real = RealPaths()  # links may change between syncs: resolve afresh
        stored, pages = self.store.stored()
        wanted = self._entities(stored)
        gone = sorted(set(stored) - {e.ref for e in wanted})
        if gone:
            self.store.remove_sites(gone)
            report.removed_sites = gone
        by_name = {s.name: s for s in self.sources}
        sites = [
            self._read_site(e, by_name.get(e.source), None if force else stored.get(e.ref))
            for e in wanted
        ]
        report.sites_skipped = sum(1 for s in sites if s.skipped)
        dates = self._dates(sites)
        now = dt.datetime.now(dt.UTC)
        batch: list[_Site] = []
        pending = 0
        for site in sites:
            batch.append(site)
            pending += max(1, len(site.files)) * 4
            if pending >= _BATCH_SECTIONS:
                self._write(batch, stored, pages, dates, force, now, report)
                batch, pending = [], 0
        if batch:
            self._write(batch, stored, pages, dates, force, now, report)
        report.sites = len(sites)
        report.sections = self.store.section_total()
        for site in sites:
            report.problems.extend(site.problems)
        self.store.after_index(report.pages_indexed)
        report.duration_s = time.perf_counter() - started
        # Every site's record and the stored pages' (tens of thousands of each in a large
        # catalog): freed in steps, not in one C call at the return.
        held: list[Any] = [sites, stored, pages, wanted, dates]
        del sites, stored, pages, wanted, dates
        release_in_steps(held)
        return report

    # --- discovery and reading -------------------------------------------------------------

    def _entities(self, stored: dict[str, StoredSite]) -> list[_Entity]:
        """Entities with a techdocs-ref; an entity's JSON is parsed again only when it changed
        (since this process last read it, or since its site was stored)."""
        found: list[_Entity] = []
        cache: dict[tuple[str, str], str | None] = {}
        rows = self.store.annotated_entities(TECHDOCS_REF)
        for row in rows:
            old = stored.get(row.ref)
            if old is not None and old.entity_hash == row.content_hash:
                self._refs.setdefault((row.ref, row.content_hash), old.techdocs_ref)
        unknown = [r.ref for r in rows if (r.ref, r.content_hash) not in self._refs]
        for ref, content_hash, data in self.store.entity_documents(unknown):
            meta = json.loads(data).get("metadata") or {}
            value = (meta.get("annotations") or {}).get(TECHDOCS_REF)
            ok = isinstance(value, str) and bool(value.strip())
            self._refs[(ref, content_hash)] = value if ok else None
        for row in rows:
            key = (row.ref, row.content_hash)
            value = self._refs.get(key)
            cache[key] = value
            if value is not None:
                found.append(
                    _Entity(
                        row.ref, row.source, row.file, row.name, row.title, value, row.content_hash
                    )
                )
        self._refs = cache  # entities that left or changed are forgotten
        return found

    def _read_site(
        self, entity: _Entity, source: CatalogSource | None, old: StoredSite | None
    ) -> _Site:
        try:
            location = locate(entity.techdocs_ref, entity.file, source, self.sources, self._real)
        except Unlocated as exc:
            site = _Site(entity, None, display_root=entity.file or "")
            site.problem(exc.level, str(exc), None)
            # An error means no docs can be read for it (a warning: they may exist elsewhere).
            site.folder_missing = exc.level == "error"
            return site
        site = _Site(entity, location)
        site_dir, root = str(location.site_dir), str(location.root)
        if inside(location.site_dir, location.root):
            site.display_root = site_dir[len(root) :].strip(os.sep).replace(os.sep, "/")
        else:  # a url: ref's checkout folder
            site.display_root = site_dir
        if site.display_root == ".":
            site.display_root = ""
        # Taken before anything is read: a file changed while it is read differs next time.
        site.stat = self._stat_hash(entity, location, old)
        if (
            old is not None
            and old.stat == site.stat
            and old.entity_hash == entity.content_hash
            and old.input_hash is not None
        ):
            site.skipped = True
            site.input_hash = old.input_hash
            return site
        self._read_config(site)
        if site.docs_root is not None:
            self._read_pages(site)
        site.input_hash = self._input_hash(site)
        return site

    def _stat_hash(self, entity: _Entity, location: SiteLocation, old: StoredSite | None) -> str:
        """A hash of everything a site's indexing reads, by stat rather than by content: the
        settings, the entity row, the site folder, mkdocs.yml, every folder and Markdown page
        of the docs tree as last stored, and, when it has any docs, its repository's HEAD
        (the dates come from git). Equal to the stored one, the site is not read again (as
        catalog files are not)."""
        h = hashlib.sha256()
        s = self.settings
        h.update(
            f"{INDEX_VERSION}\0{s.max_page_kb}\0{s.max_pages}\0{entity.ref}\0"
            f"{entity.content_hash}\0{entity.source}\0{entity.file}\0{entity.techdocs_ref}\0"
            f"{location.site_dir}\0{location.root}\0".encode()
        )
        site_dir = str(location.site_dir)
        h.update(_stat_bytes(site_dir))
        found = False
        for name in MKDOCS_FILES:
            info = _stat_bytes(os.path.join(site_dir, name))
            found = found or info != _MISSING
            h.update(info)
        docs_dir = (old.docs_dir if old is not None else None) or "docs"
        found = _tree_stats(os.path.join(site_dir, docs_dir), h) or found
        if found:  # the same test on every run: a site with no docs never asks git
            repo = self.git.repo_for(location.site_dir)
            if repo is not None:
                h.update(f"git\0{repo.root}\0{repo.head}\0{repo.shallow}\0".encode())
        return h.hexdigest()

    def _read_config(self, site: _Site) -> None:
        loc = site.location
        assert loc is not None
        try:
            names = set(os.listdir(loc.site_dir))  # one call answers every "is it there?"
        except OSError:
            site.folder_missing = True
            site.problem(
                "error",
                f"{TECHDOCS_REF} {site.entity.techdocs_ref} points to {site.where()}, "
                "which does not exist",
            )
            return
        mkdocs_file = next(
            (
                loc.site_dir / n
                for n in MKDOCS_FILES
                if n in names and os.path.isfile(os.path.join(loc.site_dir, n))
            ),
            None,
        )
        config: MkdocsConfig | None = None
        if mkdocs_file is not None:
            site.mkdocs_file = mkdocs_file
            parsed = self._mkdocs(site, mkdocs_file)
            if parsed is not None:
                config, found = parsed
                site.problems.extend(
                    Problem(p.level, p.message, p.file, p.line, site.entity.ref) for p in found
                )
                if config is not None and not config.docs_dir:
                    return  # docs_dir refused for safety: nothing of this site is read
        fallback = config is None
        config = config or MkdocsConfig()
        site.config = config
        top = config.docs_dir.split("/", 1)[0]
        if mkdocs_file is None and top not in names:
            site.folder_missing = True
            site.problem(
                "error",
                f"{TECHDOCS_REF} {site.entity.techdocs_ref} points to {site.where()}, which "
                f"has no mkdocs.yml and no {config.docs_dir}/ folder",
            )
            return
        docs_root = Path(self._real(os.path.join(loc.site_dir, config.docs_dir)))
        if not inside(docs_root, loc.root):
            site.problem("error", f"docs_dir {config.docs_dir!r} leaves the site folder; not read")
            return
        if not docs_root.is_dir():
            if mkdocs_file is None:
                site.folder_missing = True
                site.problem(
                    "error",
                    f"{TECHDOCS_REF} {site.entity.techdocs_ref} points to {site.where()}, which "
                    f"has no mkdocs.yml and no {config.docs_dir}/ folder",
                )
            else:
                site.folder_missing = True
                site.problem(
                    "error",
                    f"docs folder {config.docs_dir}/ does not exist next to {mkdocs_file.name}",
                    config.docs_dir,
                )
            return
        if mkdocs_file is None:
            site.problem(
                "warning",
                f"no mkdocs.yml in {site.where()}; {config.docs_dir}/ indexed with MkDocs defaults",
            )
        elif fallback:
            site.problem(
                "warning",
                f"{config.docs_dir}/ indexed with MkDocs defaults because mkdocs.yml is unusable",
                mkdocs_file.name,
            )
        site.docs_root = docs_root

    def _mkdocs(self, site: _Site, path: Path) -> tuple[MkdocsConfig | None, list[Problem]] | None:
        """Parse ``mkdocs.yml`` (cached by size and time); ``None`` when it cannot be read."""
        try:
            info = path.stat()
        except OSError as exc:
            site.problem("error", f"cannot read: {exc.strerror or exc}", path.name)
            return None
        key = (info.st_size, info.st_mtime_ns)
        site.mkdocs_mtime = info.st_mtime
        cached = self._configs.get(path)
        if cached is not None and cached[0] == key:
            site.mkdocs_sha = cached[1]
            result: tuple[MkdocsConfig | None, list[Problem]] = cached[2]
            return result
        if info.st_size > MAX_MKDOCS_BYTES:
            site.problem(
                "error",
                f"is {info.st_size / 1e6:.1f} MB, over the {MAX_MKDOCS_BYTES // 1024} KB an "
                "mkdocs.yml may have; not read",
                path.name,
            )
            return None
        data, why = self._read_bytes(site, path, MAX_MKDOCS_BYTES)
        if data is None:
            site.problem("error", why or "cannot read", path.name)
            return None
        site.mkdocs_sha = hashlib.sha256(data).hexdigest()
        result = parse_mkdocs(data, site.where(path.name))
        self._configs[path] = (key, site.mkdocs_sha, result)
        return result

    def _read_bytes(self, site: _Site, path: Path, cap: int) -> tuple[bytes | None, str | None]:
        try:
            with path.open("rb") as fh:
                return fh.read(cap + 1), None
        except OSError as exc:
            return None, f"cannot read: {exc.strerror or exc}"

    def _read_pages(self, site: _Site) -> None:
        loc, docs_root = site.location, site.docs_root
        assert loc is not None and docs_root is not None
        cap = self.settings.max_page_bytes
        found = _markdown_files(docs_root)
        paths = [rel for rel, _entry in found]
        if len(found) > self.settings.max_pages:
            site.problem(
                "warning",
                f"has {len(found)} pages; only the first {self.settings.max_pages} are indexed "
                "(docs.max_pages)",
                site.config.docs_dir if site.config else None,
            )
            found = found[: self.settings.max_pages]
        docs_rel = site.config.docs_dir if site.config else "docs"
        for rel, entry in found:
            abs_path = docs_root / rel
            shown = posixpath.join(docs_rel, rel)
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                printable = rel.encode("utf-8", "replace").decode("utf-8")
                site.problem("error", "file name is not UTF-8; not read", f"{docs_rel}/{printable}")
                continue
            try:
                if entry.is_symlink() and not abs_path.resolve().is_relative_to(loc.root):
                    site.problem("error", "is a link to outside the source folder; not read", shown)
                    continue
                info = entry.stat()
            except OSError as exc:
                site.problem("error", f"cannot read: {exc.strerror or exc}", shown)
                continue
            key = (info.st_size, info.st_mtime_ns, cap)
            known = self._seen_before.get(abs_path)
            data: bytes | None = None
            if known is not None and known[0] == key:
                digest_hex = known[1]  # same size and time as last sync: not read again
                self._seen[abs_path] = known
            else:
                data, why = self._read_bytes(site, abs_path, cap)
                if data is None:
                    site.problem("error", why or "cannot read", shown)
                    continue
                digest = hashlib.sha256(f"{INDEX_VERSION}\0".encode())
                digest.update(data[:cap])
                if info.st_size > cap:
                    digest.update(f"/{info.st_size}".encode())
                digest_hex = digest.hexdigest()
                self._seen[abs_path] = (key, digest_hex)
            if info.st_size > cap:
                site.problem(
                    "warning",
                    f"page is {info.st_size / 1e6:.1f} MB; only the first "
                    f"{self.settings.max_page_kb} KB are indexed (docs.max_page_kb)",
                    shown,
                )
            site.files.append(
                _PageFile(rel, abs_path, info.st_size, info.st_mtime, data, digest_hex)
            )
        if not site.files and not paths:
            site.problem("warning", "docs folder has no Markdown pages", docs_rel)
        if site.config is not None and site.config.nav is not None:
            present = {f.path for f in site.files}
            for nav in site.config.nav:
                if nav.path not in present and nav.path not in site.nav_missing:
                    site.nav_missing.append(nav.path)
                    shown_title = f" “{nav.title}”" if nav.title else ""
                    site.problem(
                        "warning",
                        f"nav entry{shown_title} points to {nav.path}, which does not exist in "
                        f"{docs_rel}/",
                        site.mkdocs_file.name if site.mkdocs_file else None,
                    )

    def _site_text(self, site: _Site) -> str:
        e = site.entity
        name_words = e.name.replace("-", " ").replace("_", " ").replace(".", " ")
        parts = [e.name, name_words, e.title or ""]
        if site.config and site.config.site_name:
            parts.append(site.config.site_name)
        return " ".join(dict.fromkeys(p for p in parts if p))

    def _input_hash(self, site: _Site) -> str:
        h = hashlib.sha256()
        h.update(
            f"{INDEX_VERSION}\0{self.settings.max_page_kb}\0{self._site_text(site)}\0".encode()
        )
        if site.location is not None:
            h.update(f"{site.location.site_dir}\0{site.entity.techdocs_ref}\0".encode())
        h.update(f"{site.mkdocs_sha}\0".encode())
        for f in site.files:
            h.update(f"{f.path}\0{f.sha256}\0".encode())
        for p in site.problems:
            h.update(f"{p.level}{p.message}\0".encode())
        return h.hexdigest()

    # --- dates -----------------------------------------------------------------------------

    def _dates(self, sites: Sequence[_Site]) -> dict[str, _SiteDates]:
        """Per entity: page dates, docs and code last updated (git when possible)."""
        out: dict[str, _SiteDates] = {}
        by_repo: dict[Path, tuple[Repo, list[_Site]]] = {}
        for site in sites:
            if site.location is None or site.folder_missing or site.skipped:
                continue
            repo = self.git.repo_for(site.location.site_dir)  # git runs once per repository
            if (
                repo is None
                or repo.head is None
                or not site.location.site_dir.is_relative_to(repo.root)
            ):
                out[site.entity.ref] = self._file_dates(site)
                continue
            by_repo.setdefault(repo.root, (repo, []))[1].append(site)
        for repo, group in by_repo.values():
            dirs = [
                s.location.site_dir.relative_to(repo.root).as_posix() for s in group if s.location
            ]
            try:
                changes = self.git.changes(repo, dirs)
            except GitError as exc:
                for site in group:
                    site.problem("warning", f"git log failed ({exc}); file times used instead")
                    out[site.entity.ref] = self._file_dates(site)
                continue
            out.update(_git_dates(repo, group, changes, self._file_dates))
        return out

    @staticmethod
    def _file_dates(site: _Site) -> _SiteDates:
        pages: dict[str, tuple[dt.datetime | None, str | None]] = {
            f.path: (dt.datetime.fromtimestamp(f.mtime, dt.UTC), "file") for f in site.files
        }
        newest = max((d for d, _ in pages.values() if d is not None), default=None)
        if site.mkdocs_mtime is not None:
            m = dt.datetime.fromtimestamp(site.mkdocs_mtime, dt.UTC)
            newest = max(newest, m) if newest else m
        return _SiteDates(pages, newest, None, "file", None)

    # --- writing ---------------------------------------------------------------------------

    def _write(
        self,
        sites: Sequence[_Site],
        stored: dict[str, StoredSite],
        pages: dict[str, dict[str, StoredPage]],
        dates: dict[str, _SiteDates],
        force: bool,
        now: dt.datetime,
        report: DocsReport,
    ) -> None:
        """Plan every site of a batch, then write the batch in a few bulk statements."""
        writes = DocsWrites()
        changed = [
            s.entity.ref
            for s in sites
            if force
            or s.entity.ref not in stored
            or stored[s.entity.ref].input_hash != s.input_hash
        ]
        counts = self.store.section_counts([r for r in changed if r in stored])
        for site in sites:
            ref = site.entity.ref
            self._plan_site(
                site, stored.get(ref), pages.get(ref, {}), counts, dates, force, now, writes, report
            )
        self.store.write(writes)

    def _plan_site(
        self,
        site: _Site,
        old: StoredSite | None,
        existing: dict[str, StoredPage],
        counts: dict[int, int],
        dates: dict[str, _SiteDates],
        force: bool,
        now: dt.datetime,
        writes: DocsWrites,
        report: DocsReport,
    ) -> None:
        ref = site.entity.ref
        if site.skipped:
            # Entity and every stat as when last stored: the row stands, dates included.
            assert old is not None
            report.pages += old.pages
            site.problems = [Problem.from_dict(p) for p in json.loads(old.problems)]
            return
        site_dates = dates.get(ref) or _SiteDates({}, None, None, None, None)
        changed = force or old is None or old.input_hash != site.input_hash
        config = site.config
        nav = json.dumps(_nav_json(config.nav if config else None))
        if changed:
            report.sites_changed += 1
            # Titles and the names searched with every section come from mkdocs.yml and the
            # entity: when those change, every page is split again.
            rebuild = (
                force
                or old is None
                or old.nav != nav
                or old.site_name != (config.site_name if config else None)
                or self.store.site_text(ref) not in (None, self._site_text(site))
            )
            words, section_count = self._plan_pages(
                site, existing, counts, site_dates, rebuild, writes, report
            )
            pages = len(site.files)
        else:
            for path, row in existing.items():
                date, source = site_dates.pages.get(path, (None, None))
                if date is not None and (
                    _differs(row.last_updated, date) or row.updated_from != source
                ):
                    writes.light(row, row.position, row.in_nav, date, source)
            assert old is not None
            words, section_count, pages = old.words, old.sections, old.pages
            # Nothing was read again, so the problems found when it was are still the ones.
            site.problems = [Problem.from_dict(p) for p in json.loads(old.problems)]
        report.pages += pages
        if old is not None and not changed:
            # Inputs hash the same: only dates, the commit and the source can differ.
            current = {
                "git_head": site_dates.head,
                "docs_updated": site_dates.docs_updated,
                "code_updated": site_dates.code_updated,
                "dates_from": site_dates.source,
                "source": site.entity.source,
                "entity_hash": site.entity.content_hash,
                "stat": site.stat,
            }
            if not any(_differs(getattr(old, k), v) for k, v in current.items()):
                return
        values = {
            "source": site.entity.source,
            "techdocs_ref": site.entity.techdocs_ref,
            "site_dir": site.display_root if site.location else None,
            "repo_path": site.location.repo_path if site.location else None,
            "docs_dir": config.docs_dir if config else None,
            "site_name": config.site_name if config else None,
            "site_description": config.site_description if config else None,
            "nav": nav,
            "input_hash": site.input_hash,
            "git_head": site_dates.head,
            "pages": pages,
            "sections": section_count,
            "words": words,
            "nav_missing": json.dumps(site.nav_missing),
            "folder_missing": int(site.folder_missing),
            "docs_updated": site_dates.docs_updated,
            "code_updated": site_dates.code_updated,
            "dates_from": site_dates.source,
            "problems": json.dumps([p.to_dict() for p in site.problems]),
            "entity_hash": site.entity.content_hash,
            "stat": site.stat,
        }
        if old is None:
            writes.site_inserts.append({"entity_ref": ref, "indexed_at": now, **values})
        else:
            indexed_at = now if changed else old.indexed_at
            writes.site_updates.append({"_ref": ref, "indexed_at": indexed_at, **values})

    def _plan_pages(
        self,
        site: _Site,
        existing: dict[str, StoredPage],
        counts: dict[int, int],
        site_dates: _SiteDates,
        rebuild: bool,
        writes: DocsWrites,
        report: DocsReport,
    ) -> tuple[int, int]:
        """Plan a changed site's pages; only pages whose bytes changed are split again."""
        ref = site.entity.ref
        site_text = self._site_text(site)
        nav_titles, order = _nav_order(site)
        keep = {f.path for f in site.files}
        removed = [r.id for p, r in existing.items() if p not in keep]
        words = 0
        sections = 0
        for f in site.files:
            old = existing.get(f.path)
            page_date, date_from = site_dates.pages.get(f.path, (None, None))
            position, in_nav = order[f.path]
            if not rebuild and old is not None and old.sha256 == f.sha256:
                # Same bytes, same nav and names: the sections stand; refresh order and date.
                writes.light(old, position, in_nav, page_date, date_from)
                words += old.word_count
                sections += counts.get(old.id, 0)
                continue
            parsed = self._parse(site, f)
            if parsed is None:
                if old is not None:
                    removed.append(old.id)
                continue
            title = nav_titles.get(f.path) or parsed.title or title_from_path(f.path)
            report.pages_indexed += 1
            values = {
                "entity_ref": ref,
                "path": f.path,
                "title": title,
                "position": position,
                "in_nav": int(in_nav),
                "sha256": f.sha256,
                "size": f.size,
                "word_count": parsed.word_count,
                "last_updated": page_date,
                "updated_from": date_from,
            }
            rows = [
                {
                    "entity_ref": ref,
                    "position": i,
                    "level": s.level,
                    "anchor": s.anchor[:512],
                    "title": s.title or title,
                    "page_title": title,
                    "site": site_text,
                    "body": s.text,
                }
                for i, s in enumerate(parsed.sections)
            ]
            writes.page(None if old is None else old.id, values, rows)
            words += parsed.word_count
            sections += len(rows)
        if removed:
            report.pages_removed += len(removed)
            writes.removed_pages.extend(removed)
        return words, sections

    def _parse(self, site: _Site, f: _PageFile) -> ParsedPage | None:
        if f.data is None:
            data_read, why = self._read_bytes(site, f.abs, self.settings.max_page_bytes)
            if data_read is None:
                site.problem("error", why or "cannot read", posixpath.join(site.docs_rel, f.path))
                return None
            f.data = data_read
        cap = self.settings.max_page_bytes
        docs_rel = site.config.docs_dir if site.config else "docs"
        shown = posixpath.join(docs_rel, f.path)
        data = f.data
        if len(data) > cap:
            cut = data.rfind(b"\n", 0, cap)
            data = data[: cut if cut > 0 else cap]
        try:
            source = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            site.problem(
                "error",
                f"is not UTF-8 text (bad byte at offset {exc.start}); page not indexed",
                shown,
            )
            return None
        return parse_page(source, title_from_path(f.path))


@dataclass(frozen=True)
class _SiteDates:
    pages: dict[str, tuple[dt.datetime | None, str | None]]  # path → (date, git|file)
    docs_updated: dt.datetime | None
    code_updated: dt.datetime | None
    source: str | None  # git | file
    head: str | None


def _git_dates(
    repo: Repo,
    sites: Sequence[_Site],
    changes: dict[str, dt.datetime],
    fallback: Any,
) -> dict[str, _SiteDates]:
    """Page, docs and code dates of every site in one repository from one log."""
    by_dir: dict[str, list[_Site]] = {}
    for site in sites:
        assert site.location is not None
        rel = site.location.site_dir.relative_to(repo.root).as_posix()
        by_dir.setdefault("" if rel == "." else rel, []).append(site)
    docs_max: dict[str, dt.datetime] = {}
    code_max: dict[str, dt.datetime] = {}
    for path, when in changes.items():
        owner_dir = _owning_dir(path, by_dir)
        if owner_dir is None:
            continue
        inner = path[len(owner_dir) + 1 :] if owner_dir else path
        for site in by_dir[owner_dir]:
            ref = site.entity.ref
            docs_dir = site.config.docs_dir if site.config else "docs"
            is_docs = inner.startswith(docs_dir.rstrip("/") + "/") or inner in MKDOCS_FILES
            target = docs_max if is_docs else code_max
            if ref not in target or when > target[ref]:
                target[ref] = when
    out: dict[str, _SiteDates] = {}
    for site in sites:
        assert site.location is not None
        ref = site.entity.ref
        files_fallback = fallback(site)
        pages: dict[str, tuple[dt.datetime | None, str | None]] = {}
        for f in site.files:
            rel = f.abs.relative_to(repo.root).as_posix() if f.abs.is_relative_to(repo.root) else ""
            committed = changes.get(rel)
            pages[f.path] = (committed, "git") if committed else files_fallback.pages[f.path]
        known = [d for d, _ in pages.values() if d is not None]
        if ref in docs_max:
            known.append(docs_max[ref])
        docs_updated = max(known, default=None)
        source = "shallow" if repo.shallow else "git"
        for path, (stamp, how) in pages.items():
            if how == "git" and repo.shallow:
                pages[path] = (stamp, "shallow")
        out[ref] = _SiteDates(pages, docs_updated, code_max.get(ref), source, repo.head)
    return out


def _differs(stored: Any, new: Any) -> bool:
    """Whether a stored column value differs from a new one (SQLite drops time zones)."""
    if isinstance(stored, dt.datetime) and isinstance(new, dt.datetime):
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=dt.UTC)
        return bool(stored != new)
    return bool(stored != new)


def _owning_dir(path: str, dirs: dict[str, Any]) -> str | None:
    """The deepest site folder holding ``path`` (repo-relative), or ``None``."""
    parent = posixpath.dirname(path)
    while True:
        if parent in dirs:
            return parent
        if not parent:
            return None
        parent = posixpath.dirname(parent)


def _markdown_files(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Markdown files under ``root`` (sorted, dot-files and dot-folders skipped, links to
    folders not followed), with their directory entries (their stat is cached)."""
    out: list[tuple[str, os.DirEntry[str]]] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.name.lower().endswith(MARKDOWN_SUFFIXES) and entry.is_file():
                out.append((f"{prefix}{entry.name}", entry))
        stack.extend(reversed(subfolders))
    return out


_MISSING = b"-\0"


def _stat_bytes(path: str) -> bytes:
    """A path's size, times, inode and device (``_MISSING`` when it cannot be stat'ed)."""
    try:
        i = os.stat(path)
    except OSError:
        return _MISSING
    text = f"{i.st_mode}:{i.st_size}:{i.st_mtime_ns}:{i.st_ctime_ns}:{i.st_ino}:{i.st_dev}\0"
    return text.encode()


def _tree_stats(root: str, h: Any) -> bool:
    """Feed ``h`` the stats of ``root``, each folder under it and each Markdown file, walked
    as ``_markdown_files`` walks (dot-names skipped, links to folders not followed): a page
    added, removed, renamed or edited changes the hash. Whether ``root`` is there."""
    top = _stat_bytes(root)
    h.update(top)
    if top == _MISSING:
        return False
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            h.update(f"{prefix}:unreadable\0".encode())
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append((entry.path, f"{prefix}{entry.name}/"))
                    info = entry.stat(follow_symlinks=False)
                elif entry.name.lower().endswith(MARKDOWN_SUFFIXES):
                    info = entry.stat()
                else:
                    continue
            except OSError:
                h.update(f"{prefix}{entry.name}:-\0".encode(errors="surrogateescape"))
                continue
            h.update(
                f"{prefix}{entry.name}:{entry.is_symlink()}:{info.st_size}:{info.st_mtime_ns}:"
                f"{info.st_ctime_ns}:{info.st_ino}\0".encode(errors="surrogateescape")
            )
        stack.extend(reversed(subfolders))
    return True


def _nav_json(nav: Iterable[NavEntry] | None) -> list[list[Any]]:
    return [[e.title, e.path, e.depth, e.section] for e in nav or ()]


def _nav_order(site: _Site) -> tuple[dict[str, str], dict[str, tuple[int, bool]]]:
    """Nav titles by path, and each file's (position, listed in nav)."""
    titles: dict[str, str] = {}
    order: dict[str, tuple[int, bool]] = {}
    nav = site.config.nav if site.config else None
    present = {f.path for f in site.files}
    for entry in nav or ():
        if entry.path in present and entry.path not in order:
            order[entry.path] = (len(order), True)
            if entry.title:
                titles[entry.path] = entry.title
    rest = sorted(
        (f.path for f in site.files if f.path not in order),
        key=lambda p: (posixpath.dirname(p), posixpath.basename(p).lower() != "index.md", p),
    )
    for path in rest:
        order[path] = (len(order), nav is None)
    return titles, order

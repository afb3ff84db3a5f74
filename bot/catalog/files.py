"""Read a tree of catalog files: follow Location targets, resolve placeholders, stay confined.

The walk starts at one catalog or Location file and follows ``spec.target``/``spec.targets``
depth-first, in the order written (glob matches sorted), visiting each file once, so a Location
cycle ends. Every path a catalog file names is confined to the source's root directory.
Files whose content hash is unchanged since the last sync are not parsed again: their Location
targets come from what the last sync recorded.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import hashlib
import json
import os
import posixpath
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.catalog import progress
from bot.catalog.candidates import Prepared, is_location, prepare_documents, ref_text_of
from bot.catalog.parsepool import ParsePool
from bot.catalog.problems import Level, Problem
from bot.catalog.validation import validate_entity
from bot.catalog.yamlload import Document, parse_documents, type_name
from bot.errors import CatalogError

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
DEFAULT_PLACEHOLDER_FILE_BYTES = 20 * 1024 * 1024
"""Most bytes the placeholders of one catalog file may pull in, all together."""
DEFAULT_PLACEHOLDER_SYNC_BYTES = 200 * 1024 * 1024
"""Most bytes the placeholders of one source may pull in during one sync."""
PLACEHOLDER_KEYS = ("$text", "$json", "$yaml")
_GLOB_CHARS = frozenset("*?[")
MAX_GLOB_MATCHES = 1_000_000
"""Most files one glob target may match (``catalog.max_glob_matches``); the rest are not read,
and a problem says so. A monorepo's ``./services/*/catalog-info.yaml`` may well match hundreds
of thousands: the cap is for runaway patterns, not for large catalogs."""
GLOB_SCAN_FACTOR = 10
"""Directory entries one glob target may look at, per match it may find, before it stops."""


StatKey = str
"""A file's stat as the store keeps it: ``size:mtime_ns:ctime_ns:inode:device``.

A string, not a tuple of five ints: a re-sync holds one per file (50,000 at a million
entities), and with the cyclic collector paused during a sync (``building_index``), tuples
pile up uncollected; the first collection after it walked them all, 70 ms with the GIL held
(a stall of the event loop). Strings are not tracked by the collector at all."""
RACY_NS = 2_000_000_000  # a file changed this close to the walk is read again next time


def _stat_key(info: os.stat_result) -> StatKey:
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"


def stat_key(text: str | None) -> StatKey | None:
    """The stored stat ``text`` as a ``StatKey``; None for anything else (never trusted
    half-read)."""
    if not text:
        return None
    try:
        numbers = [int(part) for part in text.split(":")]
    except ValueError:  # not numbers
        return None
    if len(numbers) != 5:
        return None
    return ":".join(map(str, numbers))  # a time before 1970 is negative


def _newest_ns(key: StatKey) -> int:
    """The later of a stat's modification and change times."""
    _size, mtime, ctime, _rest = key.split(":", 3)
    return max(int(mtime), int(ctime))


def memo_entry(key: StatKey, sha256: str) -> str:
    """What a walk remembers of a file it took as read: its stat and hash, in one string (a
    tuple per file is a container the cyclic collector walks; see ``StatKey``)."""
    return f"{key} {sha256}"


def memo_parts(entry: str) -> tuple[StatKey, str]:
    """``(stat, hash)`` of a ``memo_entry``."""
    key, _, sha256 = entry.partition(" ")
    return key, sha256


@dataclass
class FileRead:
    """What the walk learned about one file."""

    path: str  # posix path relative to the source root
    sha256: str | None = None  # None when the file could not be read
    documents: list[Document] | None = None  # entity documents; None when skipped or unreadable
    children: tuple[str, ...] = ()  # Location targets, as root-relative paths
    problems: list[Problem] = field(default_factory=list)
    complete: bool = True  # False: the YAML broke part-way; keep what the file held before
    # With ``walk(prepare=True)``: the entity documents' candidates. ``documents`` is then
    # empty when a worker made them (the documents stayed there).
    prepared: Prepared | None = None
    # The file's stat when it was read with ``sha256`` (None: changed too recently to trust
    # it, or not read): stored, so a later sync in any process may skip reading it.
    stat: StatKey | None = None

    @property
    def parsed(self) -> bool:
        return self.documents is not None

    @property
    def readable(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class KnownFile:
    """What the last sync recorded for a file: its hash and its Location targets."""

    sha256: str
    children: tuple[str, ...]
    stat: StatKey | None = None  # its stat when read with ``sha256`` (``FileRead.stat``)


class _Confinement(Exception):
    pass


class RealPaths:
    """``os.path.realpath`` of folders, each worked out from its parent's (cached): a catalog
    of 20,000 files in as many folders costs one ``lstat`` per folder, not one per part."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def folder(self, folder: str) -> str:
        """The real path of ``folder`` (absolute and normalised)."""
        cache = self._known
        names: list[str] = []  # below the nearest folder already known, innermost first
        top = folder
        while top not in cache:
            parent, name = os.path.split(top)
            if not name:  # the filesystem root
                cache[top] = os.path.realpath(top)
                break
            names.append(name)
            top = parent
        real = cache[top]
        for name in reversed(names):
            top = os.path.join(top, name)
            joined = os.path.join(real, name)
            real = os.path.realpath(joined) if os.path.islink(joined) else joined
            cache[top] = real
        return real


class FileTree:
    """A source root on disk and the rules for reading inside it."""

    def __init__(
        self,
        root: Path,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        memo: Mapping[str, str] | None = None,
        racy_ns: int = RACY_NS,
        placeholder_file_bytes: int = DEFAULT_PLACEHOLDER_FILE_BYTES,
        placeholder_sync_bytes: int = DEFAULT_PLACEHOLDER_SYNC_BYTES,
        relative_placeholders: str = "resolve",
        max_glob_matches: int = MAX_GLOB_MATCHES,
    ) -> None:
        self.root = root.resolve()
        self.max_glob_matches = max_glob_matches
        # "resolve": a relative placeholder is read next to its file, as Backstage does for a
        # URL location (a repository); "drop": it fails its entity, as in a Backstage `file`
        # location, which cannot form a URL from it.
        self.relative_placeholders = relative_placeholders
        self._root_text = str(self.root)
        self.max_file_bytes = max_file_bytes
        # What ``$text``/``$json``/``$yaml`` may pull in: per catalog file, and per walk (a
        # tree is made for one sync). 30 references to one 10 MB file are 300 MB otherwise.
        self.placeholder_file_bytes = placeholder_file_bytes
        self.placeholder_sync_bytes = placeholder_sync_bytes
        self.placeholder_bytes = 0  # pulled in by this walk so far
        self._real_paths = RealPaths()
        # What an earlier walk of this process read: a file whose stat is as it was then
        # holds the same bytes (``unchanged``), so a re-sync need not read and hash it again.
        self._memo = memo
        self.memo_next: dict[str, str] = {}  # for the next walk: ``memo_entry`` by path
        self._stats: dict[str, StatKey] = {}  # stat taken by ``read``, before reading
        self._started_ns = time.time_ns()
        self._racy_ns = racy_ns

    def unchanged(self, rel: str, sha256: str, stored: StatKey | None = None) -> bool:
        """True when ``rel`` was read by an earlier walk with this hash and its stat is the same.

        The earlier walk is this process's (the memo), else the last sync's, whose stat of the
        file is ``stored`` (a sync in a fresh process reads no unchanged file).
        """
        if self._memo is None:
            return False
        entry = self._memo.get(rel)
        if entry is None or memo_parts(entry)[1] != sha256:  # else: the last sync's stat
            if stored is None:
                return False
            entry = memo_entry(stored, sha256)
        key, _sha256 = memo_parts(entry)
        try:
            info = os.stat(os.path.join(self._root_text, rel))
        except OSError:
            return False
        if _stat_key(info) != key:
            return False
        self.memo_next[rel] = entry
        return True

    def remember(self, rel: str, sha256: str) -> None:
        """Note the hash of what ``read`` returned, unless the file changed too recently to tell
        a later change apart by its stat (the "racy clean" case git knows)."""
        key = self._stats.pop(rel, None)
        if key is not None and _newest_ns(key) < self._started_ns - self._racy_ns:
            self.memo_next[rel] = memo_entry(key, sha256)

    def relative(self, path: str | Path) -> str:
        """The root-relative posix path of ``path``; raises if it lies outside the root.

        Symlinks are followed (a link inside the root pointing outside is outside). Directory
        real paths are cached: a catalog of 20,000 files lives in a few thousand folders.
        """
        folder, name = os.path.split(os.path.abspath(path))
        full = os.path.join(self._real_dir(folder), name)
        if os.path.islink(full):
            full = os.path.realpath(full)
        root = self._root_text
        if full == root:
            return "."
        if not full.startswith(root + os.sep if root != os.sep else root):
            raise _Confinement(str(path))
        rel = full[len(root) :].lstrip(os.sep)
        return rel if os.sep == "/" else rel.replace(os.sep, "/")

    def _real_dir(self, folder: str) -> str:
        return self._real_paths.folder(folder)

    def absolute(self, rel: str) -> Path:
        return self.root / rel

    def follow(self, rel: str, kind: str, target: str) -> str | None:
        """The root-relative path of a Location target that is not a plain file path (a URL).

        ``None`` means this tree does not follow such targets (a file source follows none).
        Trees that can (a git source's checkouts) override this and raise ``CatalogError``,
        with the reason, for a target they cannot follow.
        """
        return None

    def read(self, rel: str) -> tuple[bytes | None, Problem | None]:
        path = os.path.join(self._root_text, rel)  # strings: pathlib costs more than the I/O
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None, Problem("error", "file not found", rel)
        except OSError as exc:
            return None, Problem("error", f"cannot read: {exc.strerror}", rel)
        if stat.S_ISDIR(info.st_mode):
            return None, Problem("error", "target is a directory, not a catalog file", rel)
        self._stats[rel] = _stat_key(info)
        if not stat.S_ISREG(info.st_mode):  # a named pipe or device would block or never end
            return None, Problem("error", "not a regular file; not read", rel)
        if info.st_size > self.max_file_bytes:
            return None, Problem(
                "error",
                f"file is {info.st_size / 1e6:.1f} MB, over the "
                f"{self.max_file_bytes / 1e6:.0f} MB limit for a catalog file; not read",
                rel,
            )
        try:
            with open(path, "rb") as handle:
                return handle.read(), None
        except OSError as exc:
            return None, Problem("error", f"cannot read: {exc.strerror}", rel)


PARALLEL_MIN_BYTES = 1 << 20
"""Files waiting to be parsed at once, in bytes, that make it worth starting parse workers
(each costs some 80 ms to start; libyaml parses about 5 MB a second)."""


READ_AHEAD_BYTES = 8 << 20
"""Changed files read ahead of the walk and waiting to be parsed, in bytes, at most: enough
to keep the parse workers busy, and what bounds the parsed results waiting for the walk (a
Location of fifty thousand files is read ahead a window at a time, not all at once)."""


def walk(
    tree: FileTree,
    entry: str,
    known: Mapping[str, KnownFile],
    force: bool = False,
    workers: int = 0,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
    prepare: bool = False,
) -> list[FileRead]:
    """Every file reachable from ``entry``, in first-reached order (``iter_walk``, as a list)."""
    return list(iter_walk(tree, entry, known, force, workers, parallel_min_bytes, prepare))


def iter_walk(
    tree: FileTree,
    entry: str,
    known: Mapping[str, KnownFile],
    force: bool = False,
    workers: int = 0,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
    prepare: bool = False,
    read_ahead_bytes: int = READ_AHEAD_BYTES,
) -> Generator[FileRead, None, None]:
    """Every file reachable from ``entry``, in first-reached order, each as it is reached.

    With ``workers``, the targets of a Location are read ahead (up to ``read_ahead_bytes`` of
    changed files at a time) and, when enough of them need parsing, parsed by that many worker
    processes while the walk goes on; the reads are the same as without them, in the same
    order. With ``prepare``, each parsed file's entities are also validated and their
    relations derived (``FileRead.prepared``), by the workers when there are any. Close the
    iterator (or exhaust it) to stop the workers.
    """
    seen: set[str] = set()
    ahead = _Ahead(tree, known, force, workers, parallel_min_bytes, prepare, read_ahead_bytes)
    # child -> the file whose Location named it first (no line: an unchanged file is not
    # parsed again, and the message must read the same in every sync)
    named_by: dict[str, str] = {}
    try:
        # Depth-first in the order targets are written, without recursion: a long Location
        # chain must not hit the interpreter's recursion limit.
        stack: list[str] = [entry]
        while stack:
            rel = stack.pop()
            if rel in seen:
                continue
            seen.add(rel)
            previous = known.get(rel)
            loaded = ahead.take(rel) or _load(tree, rel, previous, force)
            read = _finish(tree, rel, loaded, previous, ahead.pool, prepare)
            memo = tree.memo_next.get(rel)
            if memo is not None:
                key, sha256 = memo_parts(memo)
                if sha256 == read.sha256:
                    read.stat = key
            if not read.readable and rel in named_by and read.problems:
                first = read.problems[0]
                where = f"{first.message} (a target of {named_by[rel]})"
                read.problems[0] = dataclasses.replace(first, message=where)
            progress.file_read(
                len(read.prepared[0]) if read.prepared is not None else len(read.documents or ())
            )
            for child in read.children:
                named_by.setdefault(child, read.path)
            fresh = [c for c in read.children if c not in seen]
            if workers > 0 and len(fresh) > 1:
                ahead.plan(fresh)
            stack.extend(reversed(fresh))
            ahead.top_up(seen)
            yield read
    finally:
        ahead.close()


class _Ahead:
    """The files read ahead of the walk, a window at a time, and the pool parsing them."""

    def __init__(
        self,
        tree: FileTree,
        known: Mapping[str, KnownFile],
        force: bool,
        workers: int,
        min_bytes: int,
        prepare: bool,
        window: int,
    ) -> None:
        self.tree, self.known, self.force, self.prepare = tree, known, force, prepare
        self.workers, self.min_bytes = workers, min_bytes
        self.window = max(window, min_bytes)
        self.loaded: dict[str, FileRead | _Loaded] = {}
        self.upcoming: deque[str] = deque()  # to read ahead, the innermost Location's first
        self.waiting_bytes = 0  # of the changed files in ``loaded``
        self.pool: ParsePool | None = None

    def plan(self, children: list[str]) -> None:
        """A Location's targets, reached next: read them ahead before the outer ones."""
        self.upcoming.extendleft(reversed(children))

    def take(self, rel: str) -> FileRead | _Loaded | None:
        loaded = self.loaded.pop(rel, None)
        if isinstance(loaded, _Loaded):
            self.waiting_bytes -= len(loaded.data)
        return loaded

    def top_up(self, seen: set[str]) -> None:
        """Read ahead up to the window once half of it was taken; hand the changed files to
        the pool (started when what waits to be parsed is worth it). By halves, so the pool
        gets files by the batch, not one at a time as the walk takes them."""
        if self.pool is not None and self.waiting_bytes > self.window // 2:
            return
        todo: list[tuple[str, _Loaded]] = []
        while self.upcoming and self.waiting_bytes < self.window:
            rel = self.upcoming.popleft()
            if rel in self.loaded or rel in seen:
                continue
            loaded = _load(self.tree, rel, self.known.get(rel), self.force)
            self.loaded[rel] = loaded
            if isinstance(loaded, _Loaded):
                todo.append((rel, loaded))
                self.waiting_bytes += len(loaded.data)
        if not todo:
            return
        if self.pool is None:
            if not self.upcoming and sum(len(item.data) for _, item in todo) < self.min_bytes:
                return  # a few small files: not worth starting workers
            self.pool = ParsePool(self.workers)
        for rel, item in todo:
            # A file with placeholders is prepared here, once they are resolved.
            ready = self.prepare and not _is_placeholder_candidate(item.data)
            item.job = self.pool.submit(rel, item.data, ready)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


@dataclass
class _Loaded:
    """A file read and found changed: to be parsed (here, or by the pool's ``job``)."""

    data: bytes
    digest: str
    job: int | None = None


def _load(tree: FileTree, rel: str, previous: KnownFile | None, force: bool) -> FileRead | _Loaded:
    """Read one file: a final ``FileRead`` when it cannot be read or is unchanged."""
    if previous is not None and not force and tree.unchanged(rel, previous.sha256, previous.stat):
        return _unchanged(tree, rel, previous, None)
    data, problem = tree.read(rel)
    if data is None:
        assert problem is not None
        kept = previous.children if previous is not None else ()
        return FileRead(rel, children=kept, problems=[problem])
    digest = hashlib.sha256(data).hexdigest()
    tree.remember(rel, digest)
    if previous is not None and previous.sha256 == digest and not force:
        return _unchanged(tree, rel, previous, data)
    return _Loaded(data, digest)


def _unchanged(tree: FileTree, rel: str, previous: KnownFile, data: bytes | None) -> FileRead:
    """An unchanged file: its entities are as stored, and so are its Location targets, unless
    a target is a glob: the files a glob matches change without the Location file changing
    (a new service's catalog-info.yaml), so those are matched again."""
    unchanged = FileRead(rel, sha256=previous.sha256, children=previous.children)
    if not previous.children:
        return unchanged  # no Location in it (the common case): nothing to match again
    if data is None:
        data, _problem = tree.read(rel)
        if data is None:
            return unchanged
    if not _GLOB_CHARS & set(data.decode("utf-8", "replace")):
        return unchanged
    locations = [doc for doc in parse_documents(data, rel).documents if is_location(doc)]
    if _plain_matches(tree, rel, locations) == set(previous.children):
        return unchanged  # the usual re-sync: nothing new matched, nothing gone
    scratch: list[Problem] = []  # reported when the file was parsed; still stored
    children: list[str] = []
    for doc in locations:
        children.extend(_location_targets(tree, rel, doc, scratch))
    return FileRead(rel, sha256=previous.sha256, children=tuple(dict.fromkeys(children)))


def _plain_matches(tree: FileTree, rel: str, locations: list[Document]) -> set[str] | None:
    """The root-relative paths the file targets of ``locations`` name or match, taken as
    written (no links resolved, nothing checked): equal to the stored targets when nothing
    changed and no link is involved; anything else is worked out the full way. None when a
    target is not a plain file path."""
    folder = posixpath.dirname(rel)
    root = tree._root_text + os.sep
    out: set[str] = set()
    for doc in locations:
        spec = doc.data.get("spec")
        if not isinstance(spec, dict) or (spec.get("type") or "file") != "file":
            return None
        targets = [spec.get("target"), *(spec.get("targets") or [])]
        for target in targets:
            if not target:
                continue
            if not isinstance(target, str) or "://" in target or os.path.isabs(target):
                return None
            joined = posixpath.normpath(posixpath.join(folder, target))
            if not _GLOB_CHARS & set(target):
                out.add(joined)
                continue
            matches, stopped = safe_glob(os.path.join(root, joined), tree.max_glob_matches)
            if stopped:
                return None
            out.update(m[len(root) :].replace(os.sep, "/") for m in matches if m.startswith(root))
    return out


def _finish(
    tree: FileTree,
    rel: str,
    loaded: FileRead | _Loaded,
    previous: KnownFile | None,
    pool: ParsePool | None,
    prepare: bool = False,
) -> FileRead:
    """The file's documents, its Location targets and its placeholders resolved."""
    if isinstance(loaded, FileRead):
        return loaded
    data = loaded.data
    prepared: Prepared | None = None
    if loaded.job is not None and pool is not None:
        parsed, prepared = pool.result(loaded.job)
    else:
        parsed = parse_documents(data, rel)
    problems = parsed.problems
    entities: list[Document] = []
    children: list[str] = []
    placeholders = _PlaceholderLines(data) if _is_placeholder_candidate(data) else None
    budget = [0]  # bytes this file's placeholders pulled in
    complete = parsed.complete
    for doc in parsed.documents:
        if placeholders is not None and not _resolve_placeholders(
            tree, rel, doc, problems, budget, placeholders
        ):
            complete = False  # the entity is refused: it keeps its last good version
            continue
        if is_location(doc):
            children.extend(_location_targets(tree, rel, doc, problems))
        else:
            entities.append(doc)
    if not complete and previous is not None:
        # A broken file must not orphan what its Locations reached before.
        children.extend(previous.children)
    if prepare and prepared is None:
        prepared = prepare_documents(entities, rel, complete)
    return FileRead(
        rel,
        loaded.digest,
        entities,
        tuple(dict.fromkeys(children)),
        problems,
        complete,
        prepared,
    )


def _location_targets(
    tree: FileTree, rel: str, doc: Document, problems: list[Problem]
) -> Iterator[str]:
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    who = f"location:default/{name}" if isinstance(name, str) else None
    errors = validate_entity(doc.data)
    if errors:
        problems.extend(Problem("error", msg, rel, doc.line, who) for msg in errors)
        return
    spec: Mapping[str, Any] = doc.data.get("spec") or {}
    kind = spec.get("type") or "file"
    optional = spec.get("presence") == "optional"
    targets = [t for t in [spec.get("target"), *(spec.get("targets") or [])] if t]
    base = tree.absolute(rel).parent
    for target in targets:
        if kind != "file" or "://" in target:
            try:
                followed = tree.follow(rel, kind, target)
            except CatalogError as exc:
                problems.append(Problem("error", str(exc), rel, doc.line, who))
                continue
            if followed is None:
                problems.append(
                    Problem(
                        "warning",
                        f'target "{target}" of type {kind} is not followed by a file source',
                        rel,
                        doc.line,
                        who,
                    )
                )
            elif not optional or tree.absolute(followed).exists():
                yield followed
            continue
        if target.endswith(("/", os.sep)):
            problems.append(
                Problem(
                    "error", f'target "{target}" ends with a path separator', rel, doc.line, who
                )
            )
            continue
        raw = Path(target)
        candidate = raw if raw.is_absolute() else base / raw
        try:
            if _GLOB_CHARS & set(target):
                matches, stopped = safe_glob(str(candidate), tree.max_glob_matches)
                if stopped:
                    problems.append(
                        Problem(
                            "error",
                            f'target "{target}" {stopped}; only the {len(matches):,} files '
                            "found until then are read",
                            rel,
                            doc.line,
                            who,
                        )
                    )
                matched = [tree.relative(m) for m in matches if os.path.isfile(m)]
                if not matched and not optional:
                    problems.append(
                        Problem(
                            "warning", f'target "{target}" matched no files', rel, doc.line, who
                        )
                    )
                yield from matched
                continue
            child = tree.relative(candidate)
        except _Confinement:
            problems.append(
                Problem(
                    "error",
                    f'target "{target}" resolves outside the source root {tree.root}; not read',
                    rel,
                    doc.line,
                    who,
                )
            )
            continue
        if optional and not tree.absolute(child).exists():
            continue
        yield child


class _GlobStop(Exception):
    pass


def safe_glob(
    pattern: str, max_matches: int = MAX_GLOB_MATCHES, max_scanned: int | None = None
) -> tuple[list[str], str | None]:
    """``sorted(glob.glob(pattern, recursive=True))``, bounded, and never around a link loop.

    ``**`` does not descend into symlinked directories (``os.walk``'s ``followlinks=False``;
    ``glob`` follows them, so ``ln -s . loop/l1`` three times gives some 3**40 paths), hidden
    names match only a pattern part starting with ``.`` (as ``glob``), and the walk stops after
    ``max_matches`` paths or ``max_scanned`` directory entries: the second value then says why.
    """
    if max_scanned is None:
        max_scanned = max_matches * GLOB_SCAN_FACTOR
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    start = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else os.curdir)
    parts = parts[fixed:]
    found: list[str] = []
    scanned = 0

    def listing(folder: str) -> list[os.DirEntry[str]]:
        nonlocal scanned
        try:
            with os.scandir(folder) as entries:
                names = list(entries)
        except OSError:
            return []
        scanned += len(names)
        if scanned > max_scanned:
            raise _GlobStop(f"looks at more than {max_scanned:,} directory entries")
        return names

    def below(folder: str) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
        """``folder`` and every non-hidden folder under it, links not followed."""
        stack = [folder]
        while stack:
            current = stack.pop()
            names = listing(current)
            yield current, names
            for entry in names:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir and not entry.name.startswith("."):
                    stack.append(entry.path)

    def add(path: str) -> None:
        found.append(path)
        if len(found) >= max_matches:
            raise _GlobStop(f"matches more than {max_matches:,} paths")

    def expand(folder: str, index: int) -> None:
        if index == len(parts):
            add(folder)
            return
        part = parts[index]
        last = index + 1 == len(parts)
        if part == "**":
            for current, names in below(folder):
                expand(current, index + 1)
                if last:
                    for entry in names:
                        if not entry.name.startswith(".") and not entry.is_dir():
                            add(entry.path)
        elif glob.has_magic(part):
            hidden_ok = part.startswith(".")
            for entry in listing(folder):
                if (hidden_ok or not entry.name.startswith(".")) and fnmatch.fnmatchcase(
                    entry.name, part
                ):
                    expand(entry.path, index + 1)
        else:
            path = os.path.join(folder, part)
            if not last:
                expand(path, index + 1)
            elif os.path.lexists(path):
                add(path)

    stopped: str | None = None
    if not parts:
        if os.path.lexists(start):
            found.append(start)
    else:
        try:
            expand(start, 0)
        except _GlobStop as exc:
            stopped = str(exc)
    return sorted(dict.fromkeys(found)), stopped


def _mb(size: int) -> str:
    return f"{size / 2**20:g} MB"


def _is_placeholder_candidate(data: bytes) -> bool:
    return b"$text" in data or b"$json" in data or b"$yaml" in data


class _PlaceholderLines:
    """Where a file's placeholders stand, for their problems: parsed values carry no lines.

    Placeholders are resolved in the order they are written, so the search goes on from the
    last one found (linear over the file); one not found there is looked for again from its
    document's start, and failing that the problem names the document's line.
    """

    def __init__(self, data: bytes) -> None:
        self.lines = data.decode("utf-8", "replace").split("\n")
        self.next = 0  # index of the line after the last placeholder found

    def line_of(self, key: str, target: str, doc_line: int) -> int:
        for start in (max(self.next, doc_line - 1), doc_line - 1):
            for i in range(max(start, 0), len(self.lines)):
                text = self.lines[i]
                if key in text and target in text:
                    self.next = i + 1
                    return i + 1
        return doc_line


def _resolve_placeholders(
    tree: FileTree,
    rel: str,
    doc: Document,
    problems: list[Problem],
    budget: list[int],
    lines: _PlaceholderLines,
) -> bool:
    """Replace ``{$text: ./file}`` style objects in place; keep the ones that cannot resolve.

    ``budget`` holds the bytes the file's placeholders pulled in so far (shared by its
    documents); past the tree's per-file or per-walk limit, placeholders are kept unresolved
    with an error. Problems name the entity and the placeholder's own line. False when the
    entity is refused (a relative placeholder under ``relative_placeholders: drop``).
    """
    entity = ref_text_of(doc.data)
    refused: list[str] = []

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                key = next(iter(value))
                if key in PLACEHOLDER_KEYS and isinstance(value[key], str):
                    line = lines.line_of(key, value[key], doc.line)
                    if tree.relative_placeholders == "drop" and "://" not in value[key]:
                        refused.append(value[key])
                        problems.append(
                            Problem(
                                "error",
                                f"Placeholder {key} could not form a URL out of {rel} and "
                                f"{value[key]}: a file location cannot resolve a relative "
                                "placeholder (catalog.relative_placeholders: drop)",
                                rel,
                                line,
                                entity,
                            )
                        )
                        return value
                    where = (rel, line, entity)
                    return _placeholder(tree, where, key, value[key], problems, value, budget)
                if key in PLACEHOLDER_KEYS:
                    problems.append(
                        Problem(
                            "warning",
                            f"placeholder {key} {value[key]!r} kept unresolved: its value must "
                            f"be a file path or URL, a string, not {type_name(value[key])}",
                            rel,
                            lines.line_of(key, "", doc.line),
                            entity,
                        )
                    )
                    return value
            for k, v in value.items():
                value[k] = resolve(v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                value[i] = resolve(v)
        return value

    resolve(doc.data)
    return not refused


def _placeholder(
    tree: FileTree,
    where: tuple[str, int, str | None],
    key: str,
    target: str,
    problems: list[Problem],
    original: Any,
    budget: list[int],
) -> Any:
    """The value of one placeholder; ``where`` is its file, line and entity."""
    rel, line, entity = where

    def keep(reason: str, level: Level = "warning") -> Any:
        message = f"placeholder {key} {target!r} kept unresolved: {reason}"
        problems.append(Problem(level, message, rel, line, entity))
        return original

    def over_budget(size: int) -> str | None:
        if budget[0] + size > tree.placeholder_file_bytes:
            return (
                f"the placeholders of this file would pull in more than "
                f"{_mb(tree.placeholder_file_bytes)} (catalog.placeholder_file_mb)"
            )
        if tree.placeholder_bytes + size > tree.placeholder_sync_bytes:
            return (
                f"the placeholders of this source would pull in more than "
                f"{_mb(tree.placeholder_sync_bytes)} in one sync (catalog.placeholder_sync_mb)"
            )
        return None

    if "://" in target:
        return keep("remote URLs are not fetched by a file source")
    candidate = tree.absolute(rel).parent / target
    try:
        child = tree.relative(candidate)
    except _Confinement:
        return keep("it points outside the source root")
    try:  # refuse before reading, when the size is known
        refused = over_budget(os.stat(tree.absolute(child)).st_size)
    except OSError:
        refused = None
    if refused:
        return keep(refused, "error")
    data, problem = tree.read(child)
    if data is None:
        assert problem is not None
        return keep(problem.message)
    refused = over_budget(len(data))
    if refused:
        return keep(refused, "error")
    budget[0] += len(data)
    tree.placeholder_bytes += len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return keep("the file is not UTF-8 text")
    parse: Callable[[str], Any]
    if key == "$text":
        return text
    if key == "$json":
        parse = json.loads
    else:

        def parse(t: str) -> Any:
            result = parse_documents(t.encode(), child, objects_only=False)
            if result.problems:
                first = result.problems[0]
                where = f"line {first.line}: " if first.line else ""
                raise ValueError(f"{where}{first.message}")
            if len(result.documents) != 1:
                found = len(result.documents)
                raise ValueError(f"expected exactly one YAML document, found {found}")
            return result.documents[0].data

    try:
        return parse(text)
    except (ValueError, yaml.YAMLError) as exc:
        return keep(f"cannot parse {child}: {exc}")

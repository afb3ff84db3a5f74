"""When files last changed, from git: one ``git log`` per repository, however many sites it holds.

The log is read newest first with the names each commit touched, so the first time a path
appears is its last change (the committer date, which ``GIT_COMMITTER_DATE`` sets). Results
are cached per repository and ``HEAD``: an unchanged repository costs one ``rev-parse``.
Outside a repository, or when git fails, callers fall back to file times.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import GitError
from bot.git import run_git

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 300


def _git(cwd: Path, *args: str, timeout: float = 30.0) -> str:
    return run_git(args, cwd=cwd, timeout=timeout)


@dataclass(frozen=True)
class Repo:
    """A git working tree: its top folder and the commit checked out."""

    root: Path
    head: str | None  # None: no commit yet
    shallow: bool = False  # a shallow clone knows only recent commits: dates are too new


def find_repo(path: Path) -> Repo | None:
    """The repository ``path`` lies in, or ``None`` (not in git, or git refuses it)."""
    try:
        top = _git(path, "rev-parse", "--show-toplevel").strip()
    except GitError as exc:
        log.debug("no git repository at %s: %s", path, exc)
        return None
    try:
        head: str | None = _git(path, "rev-parse", "--verify", "-q", "HEAD").strip() or None
    except GitError:
        head = None
    try:
        shallow = _git(path, "rev-parse", "--is-shallow-repository").strip() == "true"
    except GitError:
        shallow = False
    return Repo(Path(top).resolve(), head, shallow)


def worktree_top(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` holding ``.git`` (no subprocess)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def last_changes(repo: Repo, under: str) -> dict[str, dt.datetime]:
    """Repo-relative path → committer time of the last commit touching it, below ``under``.

    Deleted files are included (a deletion is a change too). One ``git log`` for all of it.
    """
    if repo.head is None:
        return {}
    spec = under.strip("/") or "."
    out = _git(
        repo.root,
        "log",
        "--format=%x01%ct",
        "--name-only",
        "-z",
        "--no-renames",
        "HEAD",
        "--",
        spec,
        timeout=GIT_TIMEOUT_S,
    )
    changed: dict[str, dt.datetime] = {}
    when: dt.datetime | None = None
    for token in out.split("\0"):
        if token.startswith("\x01"):
            when = dt.datetime.fromtimestamp(int(token[1:]), dt.UTC)
            continue
        name = token.lstrip("\n")
        if name and when is not None and name not in changed:
            changed[name] = when
    return changed


class GitDates:
    """Last-change times per repository, cached by ``HEAD`` across syncs."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, str, str], dict[str, dt.datetime]] = {}
        self._repos: dict[Path, Repo | None] = {}
        self._tops: dict[Path, Path | None] = {}

    def _top(self, folder: Path) -> Path | None:
        """``worktree_top`` with every folder on the way remembered (siblings share parents)."""
        chain: list[Path] = []
        top: Path | None = None
        current = folder
        while True:
            if current in self._tops:
                top = self._tops[current]
                break
            chain.append(current)
            if (current / ".git").exists():
                top = current
                break
            if current.parent == current:
                break
            current = current.parent
        for seen in chain:
            self._tops[seen] = top
        return top

    def repo_for(self, folder: Path) -> Repo | None:
        """The repository holding ``folder`` (resolved): git is asked once per repository."""
        top = self._top(folder)
        if top is None:
            return None
        if top not in self._repos:
            self._repos[top] = find_repo(top)
        return self._repos[top]

    def forget_heads(self) -> None:
        """Start of a sync: ask git for each repository's ``HEAD`` again."""
        self._repos.clear()
        self._tops.clear()

    def changes(self, repo: Repo, under: Sequence[str]) -> dict[str, dt.datetime]:
        """Last changes below the common folder of ``under`` (repo-relative folders)."""
        common = os.path.commonpath([u.strip("/") or "." for u in under]) if under else "."
        key = (repo.root, repo.head or "", common)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != repo.root}
            self._cache[key] = last_changes(repo, common)
        return self._cache[key]

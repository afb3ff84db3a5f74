"""The ``git`` catalog source: catalog files in git repositories, read from shallow checkouts.

A source names one repository (``url``), a ``ref`` (branch, tag or full commit id; the remote's
default branch when absent) and the ``path`` of its catalog or Location file. Every sync fetches
that ref (``git fetch --depth 1``) into a checkout under the data directory and walks the files
from there exactly as a file source does. Location targets that name other repositories by URL,
the way Backstage writes them (``https://host/org/repo/blob/main/catalog-info.yaml``), are
followed when their host is listed under ``git.integrations``; those repositories are fetched
too, several at a time.

Failures keep what was good: when the source's own repository cannot be fetched (gone, a ref
that does not exist, a refused token) the sync of the source fails and its last good entities
stay; when a followed repository cannot be fetched, the entities it held stay and the Location
file shows why. Checkouts are caches: deleting them loses nothing.

Safety: git runs without a terminal (``GIT_TERMINAL_PROMPT=0``), only over the file, git, ssh,
http and https transports, with a timeout. Tokens come from the environment and reach git as an
HTTP header through ``GIT_CONFIG_*`` variables, so they never appear in a command line, a
remote URL, ``.git/config``, a log, a status line or a chat message. Paths stay inside the
checkouts and never enter ``.git``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from bot.catalog.files import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_PLACEHOLDER_FILE_BYTES,
    DEFAULT_PLACEHOLDER_SYNC_BYTES,
    FileRead,
    FileTree,
    KnownFile,
    walk,
)
from bot.catalog.problems import Problem
from bot.catalog.remote import TokenSpec, read_token, remember_secret, scrub, url_has_password
from bot.config import Section, SourceSettings, parse_rules
from bot.errors import CatalogError, GitError, SourceError
from bot.git import run_git

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store.db import Database

try:  # POSIX: one sync at a time per cache folder, across processes (`callboard sync` + `run`)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SECTION = "git"
DEFAULT_PATH = "catalog-info.yaml"
DEFAULT_USERNAME = "x-access-token"  # GitHub's user name for token auth; GitLab takes any
_META = "callboard.json"  # in each checkout's .git folder: what it is a checkout of
_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s]+$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+@-]*$")
_BLOB = re.compile(r"^(?P<repo>.+?)/(?:-/)?blob/(?P<ref>[^/]+)/(?P<path>.+)$")
_TREE = re.compile(r"^(?P<repo>.+?)/(?:-/)?(?:tree|blob)/(?P<ref>[^/]+)(?:/(?P<path>.*))?$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class GitIntegration:
    """A git host whose repositories Location targets may name by URL."""

    host: str  # "github.com", or "git.example.com:8443"
    token: TokenSpec = field(default_factory=TokenSpec)
    username: str = DEFAULT_USERNAME
    clone_base: str | None = None  # clone from here instead of https://<host> (a mirror, ssh)

    def clone_url(self, scheme: str, repo_path: str) -> str:
        base = self.clone_base or f"{scheme}://{self.host}"
        return f"{base.rstrip('/')}/{repo_path.strip('/')}"


@dataclass(frozen=True)
class GitSettings:
    """The ``git`` config section: integrations and how git is run."""

    integrations: tuple[GitIntegration, ...] = ()
    timeout_seconds: int = 300
    parallel_fetches: int = 8
    cache_dir: Path | None = None  # default: <data_dir>/git

    def integration(self, host: str) -> GitIntegration | None:
        host = host.lower()
        for item in self.integrations:
            if item.host == host:
                return item
        return None


def parse_git_settings(sec: Section) -> GitSettings:
    """Read the ``git`` section (absent: no integrations, defaults)."""
    integrations: list[GitIntegration] = []
    for item in sec.sections("integrations"):
        host = str(item.req_str("host")).strip().lower()
        if not _HOST.match(host):
            raise item.error("host", f"must be a host name (and port), found {host!r}")
        if any(i.host == host for i in integrations):
            raise item.error("host", f"{host} is listed twice")
        token = read_token(item)
        username = item.str("username", DEFAULT_USERNAME) or DEFAULT_USERNAME
        clone_base = item.str("clone_base")
        if clone_base is not None:
            problem = remote_url_problem(clone_base)
            if problem:
                raise item.error("clone_base", problem)
        item.done()
        integrations.append(GitIntegration(host, token, username, clone_base))
    return GitSettings(
        integrations=tuple(integrations),
        timeout_seconds=sec.int("timeout_seconds", 300, minimum=5),
        parallel_fetches=sec.int("parallel_fetches", 8, minimum=1),
        cache_dir=sec.path("cache_dir"),
    )


@dataclass(frozen=True)
class GitSourceOptions:
    """A configured ``type: git`` source."""

    url: str
    ref: str | None
    path: str
    token: TokenSpec
    username: str
    depth: int


def parse_git_source(sec: Section, index: int, refresh: int) -> SourceSettings:
    """Read one ``type: git`` entry of ``catalog.sources``."""
    url = str(sec.req_str("url")).strip()
    ref = sec.str("ref")
    path = sec.str("path")
    blob = _BLOB.match(url)
    if blob and ref is None and path is None:
        # a Backstage-style file URL: https://host/org/repo/blob/<ref>/<path>
        url, ref, path = blob["repo"], unquote(blob["ref"]), unquote(blob["path"])
    problem = remote_url_problem(url)
    if problem:
        raise sec.error("url", problem)
    if ref is not None:
        problem = ref_problem(ref)
        if problem:
            raise sec.error("ref", problem)
    path = path if path is not None else DEFAULT_PATH
    problem = repo_path_problem(path)
    if problem:
        raise sec.error("path", problem)
    token = read_token(sec)
    username = sec.str("username", DEFAULT_USERNAME) or DEFAULT_USERNAME
    depth = sec.int("depth", 1, minimum=0)
    name = sec.str("name") or f"git:{display_url(url)}"
    rules = parse_rules(sec)
    sec.done()
    options = GitSourceOptions(url, ref, posixpath.normpath(path), token, username, depth)
    return SourceSettings(
        "git", name, refresh_minutes=refresh, options={"git": options}, rules=rules
    )


# --------------------------------------------------------------------------- input checks


def remote_url_problem(url: str) -> str | None:
    """Why ``url`` is not a repository URL Callboard will fetch, or ``None`` when it is."""
    shown = scrub(url)
    if not url or any(c.isspace() or ord(c) < 32 for c in url):
        return f"is not a repository URL: {shown!r}"
    if url.startswith("-"):
        return f"must not start with '-': {shown!r}"
    if url_has_password(url):
        return (
            f"contains a password or token ({shown}); remove it and put the token in an "
            "environment variable named by token_env"
        )
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            return f"uses {scheme}://; git sources take {', '.join(_SCHEMES)} URLs: {shown}"
        return None
    if "::" in url:
        return f"names a git remote helper ({shown}), which Callboard does not run"
    if _SCP_LIKE.match(url):
        return None  # git@github.com:org/repo.git
    return f"is not a repository URL (use https://, ssh://, git@host:path or file://): {shown}"


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` is not a branch, tag or commit name, or ``None``."""
    if (
        not _REF.match(ref)
        or ".." in ref
        or "//" in ref
        or ref.endswith(("/", ".", ".lock"))
        or len(ref) > 255
    ):
        return f"is not a branch, tag or commit name: {ref!r}"
    return None


def repo_path_problem(path: str) -> str | None:
    """Why ``path`` is not a file path inside a repository, or ``None``."""
    if not path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return f"must be a path inside the repository, found {path!r}"
    parts = posixpath.normpath(path.replace("\\", "/")).split("/")
    if ".." in parts:
        return f"points outside the repository checkout: {path!r}"
    if ".git" in parts:
        return f"points into the repository's .git folder: {path!r}"
    if path.endswith("/"):
        return f"names a folder; name the catalog file: {path!r}"
    return None


def display_url(url: str) -> str:
    """A short, credential-free form of a repository URL for names and messages."""
    shown = scrub(url)
    return re.sub(r"^[a-z]+://", "", shown).removesuffix(".git")


# --------------------------------------------------------------------------- repositories


@dataclass(frozen=True)
class RepoSpec:
    """One repository at one ref, and how to authenticate to it."""

    url: str  # the clone URL, never with credentials
    ref: str | None  # None: the remote's default branch
    token: TokenSpec = field(default_factory=TokenSpec)
    username: str = DEFAULT_USERNAME
    depth: int = 1
    via: str = "entry"  # "entry" (configured or registered) or "integration" (followed by URL)
    named_as: str | None = None  # followed: the repository URL as the catalog wrote it

    @property
    def shown(self) -> str:
        return f"{scrub(self.url)} at {self.ref or 'its default branch'}"

    def slug(self) -> str:
        """The checkout's folder under the source's cache: readable, unique, safe."""
        return _slug(self.named_as or self.url, self.ref)


def _safe(segment: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", segment)
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned
    return cleaned


def _slug(url: str, ref: str | None) -> str:
    tag = ""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or "local"
        if parts.port:
            host = f"{host}_{parts.port}"
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme == "file":
            # a local path is long and says little: its last two folders and a hash
            segments = segments[-2:]
            tag = "~" + hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:8]
    else:  # git@host:org/repo.git
        host_part, _, path = url.partition(":")
        host = host_part.rpartition("@")[2] or "local"
        segments = [s for s in path.split("/") if s]
    if segments:
        segments[-1] = segments[-1].removesuffix(".git")
    segments = [_safe(s) for s in segments if s] or ["repository"]
    last = f"{segments[-1]}{tag}@{quote(ref or 'HEAD', safe='')}"
    return "/".join([_safe(host), *segments[:-1], last])


def split_slug(rel: str) -> tuple[str | None, list[str]]:
    """``host/org/repo@ref/a/b.yaml`` → (``host/org/repo@ref``, ``[a, b.yaml]``)."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if "@" in part:
            return "/".join(parts[: i + 1]), parts[i + 1 :]
    return None, parts


@dataclass(frozen=True)
class GitEntry:
    """Where a git source starts: a repository and the catalog file in it."""

    repo: RepoSpec
    path: str
    label: str = ""  # for messages: "registered location 3"


def _auth_config(repo: RepoSpec) -> tuple[dict[str, str], tuple[str, ...]]:
    """The token as an HTTP header for this repository's host only (git config through the
    environment), and the secrets to keep out of messages."""
    try:
        token = repo.token.resolve()
    except SourceError as exc:
        raise GitError(str(exc)) from None
    if token is None or "://" not in repo.url:
        return {}, ()
    parts = urlsplit(repo.url)
    if parts.scheme not in ("http", "https"):
        return {}, (token,)  # ssh and file remotes authenticate otherwise
    if parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        raise GitError(
            f"refusing to send {repo.token.describe()} to {scrub(repo.url)} over plain http; "
            "use https"
        )
    basic = base64.b64encode(f"{repo.username}:{token}".encode()).decode()
    remember_secret(basic)
    header = {f"http.{parts.scheme}://{parts.netloc}/.extraHeader": f"Authorization: Basic {basic}"}
    return header, (token, basic)


def _git(args: Sequence[str], cwd: Path, timeout: float) -> str:
    try:
        return run_git(args, cwd=cwd, timeout=timeout).strip()
    except GitError as exc:
        raise GitError(scrub(exc.stderr or str(exc)), exc.stderr, exc.returncode) from None


def _explain(repo: RepoSpec, stderr: str) -> str:
    """A git error in words a platform team can act on (already scrubbed)."""
    low = stderr.lower()
    fatal = [
        line.removeprefix("fatal: ").strip()
        for line in stderr.splitlines()
        if line.startswith(("fatal:", "error:"))
    ]
    detail = fatal[0] if fatal else (stderr.splitlines()[-1] if stderr else "no output")
    if "couldn't find remote ref" in low or "no such remote ref" in low or ("not our ref" in low):
        return f"ref {repo.ref!r} does not exist in {scrub(repo.url)}"
    if (
        "authentication failed" in low
        or "could not read username" in low
        or "could not read password" in low
        or "403" in low
        or "401" in low
        or "permission denied (publickey" in low
    ):
        if repo.token.configured:
            return f"{scrub(repo.url)} refused {repo.token.describe()} (authentication failed)"
        return (
            f"{scrub(repo.url)} needs credentials: set token_env on the source, or on the git "
            "integration of its host"
        )
    if (
        "does not appear to be a git repository" in low
        or "repository not found" in low
        or "not found" in low
        or "could not resolve host" in low
        or "connection refused" in low
        or "failed to connect" in low
    ):
        return f"cannot reach the repository {scrub(repo.url)} ({detail})"
    return f"git could not fetch {repo.shown}: {detail}"


def fetch_checkout(repo: RepoSpec, directory: Path, timeout: float) -> str:
    """Bring ``directory`` to ``repo``'s ref with a shallow fetch; the commit id it is at.

    A fetch that brings what the last one brought costs one ``git fetch`` and nothing else:
    the object fetched and the commit checked out are remembered next to the checkout.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fresh = not (directory / ".git").is_dir()
    if fresh:
        _git(["init", "--quiet"], directory, timeout)
    before = read_checkout_meta(directory) or {}
    meta: dict[str, Any] = {
        "url": repo.url,
        "ref": repo.ref,
        "via": repo.via,
        "named_as": repo.named_as,
    }
    args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules"]
    if repo.depth:
        args += ["--depth", str(repo.depth)]
    elif (directory / ".git" / "shallow").exists():
        args.append("--unshallow")
    args += ["--", repo.url, repo.ref or "HEAD"]
    config, secrets = _auth_config(repo)
    try:
        run_git(args, cwd=directory, timeout=timeout, config=config, secrets=secrets)
    except GitError as exc:
        _write_meta(directory, {**before, **meta})
        raise GitError(_explain(repo, scrub(exc.stderr or str(exc)))) from None
    fetched = _fetch_head(directory)
    same = before.get("url") == repo.url and before.get("ref") == repo.ref
    if same and fetched and before.get("fetched") == fetched and before.get("commit"):
        return str(before["commit"])  # nothing new: the checkout is as the last sync left it
    _git(["checkout", "--quiet", "--force", "--detach", "FETCH_HEAD"], directory, timeout)
    if not fresh:
        _git(["clean", "--quiet", "-ffdx"], directory, timeout)
    commit = _git(["rev-parse", "HEAD"], directory, timeout)
    _write_meta(directory, {**meta, "fetched": fetched, "commit": commit})
    return commit


def _fetch_head(directory: Path) -> str | None:
    """The object id the last fetch brought (``.git/FETCH_HEAD``'s first field)."""
    try:
        first = (directory / ".git" / "FETCH_HEAD").read_text(encoding="utf-8").split(None, 1)
    except OSError:
        return None
    return first[0] if first else None


def _write_meta(directory: Path, meta: Mapping[str, Any]) -> None:
    (directory / ".git" / _META).write_text(json.dumps(dict(meta)), encoding="utf-8")


def read_checkout_meta(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / ".git" / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


# --------------------------------------------------------------------------- the tree


@dataclass
class _Checkout:
    repo: RepoSpec
    slug: str
    directory: Path
    future: Future[str]
    _outcome: tuple[str | None] | None = None  # (error,) once the fetch has ended

    def wait(self) -> str | None:
        """The error that kept this checkout from being fetched, or ``None``."""
        if self._outcome is None:
            try:
                self.future.result()
                self._outcome = (None,)
            except GitError as exc:
                self._outcome = (str(exc),)
        return self._outcome[0]


class GitTree(FileTree):
    """The checkouts of one git source, read like one folder, each fetched once per sync."""

    def __init__(self, source: GitSource, pool: ThreadPoolExecutor) -> None:
        super().__init__(
            source.root,
            source.max_file_bytes,
            placeholder_file_bytes=source.placeholder_file_bytes,
            placeholder_sync_bytes=source.placeholder_sync_bytes,
        )
        self.source = source
        self.pool = pool
        self.checkouts: dict[str, _Checkout] = {}
        self._lock = threading.Lock()

    def checkout(self, repo: RepoSpec) -> _Checkout:
        """The checkout of ``repo``, fetched in the background the first time it is asked for."""
        slug = repo.slug()
        with self._lock:
            found = self.checkouts.get(slug)
            if found is None:
                directory = self.root / slug
                future = self.pool.submit(
                    fetch_checkout, repo, directory, self.source.git.timeout_seconds
                )
                found = self.checkouts[slug] = _Checkout(repo, slug, directory, future)
        return found

    def revisit(self, slug: str) -> _Checkout | None:
        """A checkout a previous sync made, fetched again (a Location file that did not change
        still names it)."""
        with self._lock:
            found = self.checkouts.get(slug)
        if found is not None:
            return found
        meta = read_checkout_meta(self.root / slug)
        if meta is None or meta.get("via") != "integration" or not meta.get("named_as"):
            return None
        try:
            repo = self.source.followed_repo(str(meta["named_as"]), meta.get("ref"))
        except CatalogError:
            return None
        return self.checkout(repo) if repo.slug() == slug else None

    def follow(self, rel: str, kind: str, target: str) -> str | None:
        if kind not in ("url", "file"):
            return None  # other location types (provider-specific) are not read here
        if "://" not in target:
            # a relative URL target: a file of the same repository, next to the Location file
            slug, _ = split_slug(rel)
            child = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            child_slug, inner = split_slug(child)
            if slug is None or child_slug != slug or not inner:
                raise CatalogError(f'target "{target}" points outside its repository; not read')
            if ".git" in inner:
                raise CatalogError(f'target "{target}" points into the .git folder; not read')
            return child
        match = _BLOB.match(target)
        if match is None:
            raise CatalogError(
                f'target "{scrub(target)}" is not a file URL of a git repository '
                "(https://host/org/repo/blob/<ref>/<path>); not read"
            )
        if url_has_password(target):
            raise CatalogError(
                f'target "{scrub(target)}" carries credentials in its URL; not read '
                "(configure a token for the host under git.integrations)"
            )
        repo = self.source.followed_repo(match["repo"], unquote(match["ref"]))
        path = unquote(match["path"])
        problem = repo_path_problem(path)
        if problem:
            raise CatalogError(f'target "{scrub(target)}" {problem}')
        return f"{self.checkout(repo).slug}/{posixpath.normpath(path)}"

    def _owner(self, rel: str) -> tuple[_Checkout | None, list[str]]:
        slug, inner = split_slug(rel)
        if slug is None:
            return None, inner
        return self.revisit(slug), inner

    def absolute(self, rel: str) -> Path:
        # Waiting here lets `presence: optional` targets check a checkout that is being fetched.
        checkout, _ = self._owner(rel)
        if checkout is not None:
            checkout.wait()
        return super().absolute(rel)

    def _real(self, path: str) -> str:
        """``path`` (absolute) with every link resolved."""
        folder, name = os.path.split(path)
        full = os.path.join(self._real_dir(folder), name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def read(self, rel: str) -> tuple[bytes | None, Problem | None]:
        checkout, inner = self._owner(rel)
        if checkout is None:
            return None, Problem(
                "error",
                "is not in a repository this source fetches (a followed repository's host may "
                "no longer be a configured git integration); not read",
                rel,
            )
        if ".git" in inner:
            return None, Problem("error", "is inside a .git folder; not read", rel)
        error = checkout.wait()
        if error is not None:
            return None, Problem(
                "error", f"cannot fetch {checkout.repo.shown}: {error} (entities kept)", rel
            )
        inside = self._real(str(checkout.directory)) + os.sep
        if not self._real(os.path.join(self._root_text, rel)).startswith(inside):
            return None, Problem(
                "error", "is a link to outside its repository checkout; not read", rel
            )
        return super().read(rel)


# --------------------------------------------------------------------------- the source


class GitSource:
    """Catalog files from git repositories: one configured repository, or several registered.

    ``entries`` is called at every sync. With ``strict`` (a configured source), a repository
    that cannot be fetched fails the whole source; otherwise (registered locations) it is a
    problem on that entry only, and the entities it held are kept.
    """

    type = "git"

    def __init__(
        self,
        name: str,
        entries: Callable[[], list[GitEntry]],
        root: Path,
        git: GitSettings,
        *,
        strict: bool = True,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        shown_location: str = "",
        parse_workers: int = 0,
        placeholder_file_bytes: int = DEFAULT_PLACEHOLDER_FILE_BYTES,
        placeholder_sync_bytes: int = DEFAULT_PLACEHOLDER_SYNC_BYTES,
    ) -> None:
        self.name = name
        self.entries = entries
        self.root = root
        self.git = git
        self.strict = strict
        self.max_file_bytes = max_file_bytes
        self.placeholder_file_bytes = placeholder_file_bytes
        self.placeholder_sync_bytes = placeholder_sync_bytes
        self.parse_workers = parse_workers
        self._shown = shown_location
        self._commit: str | None = None
        self._checkouts: dict[tuple[str, str | None], Path] = {}

    @property
    def location(self) -> str:
        if self._commit:
            return f"{self._shown} (commit {self._commit[:12]})"
        return self._shown

    def followed_repo(self, repo_url: str, ref: str | None) -> RepoSpec:
        """The repository a Location target URL names, when its host is a git integration."""
        parts = urlsplit(repo_url)
        host = (parts.netloc.rpartition("@")[2] or "").lower()
        integration = self.git.integration(host)
        if integration is None:
            raise CatalogError(
                f"{scrub(repo_url)} is on {host or 'no host'}, which is not a configured git "
                "integration (add it under git.integrations to follow it); not read"
            )
        if ref is not None and ref_problem(ref):
            raise CatalogError(f"{scrub(repo_url)}: ref {ref_problem(ref)}")
        url = integration.clone_url(parts.scheme or "https", parts.path)
        return RepoSpec(
            url, ref, integration.token, integration.username, 1, "integration", repo_url
        )

    def local_path_for(self, url: str) -> Path | None:
        """The folder of a repository or tree URL in this source's checkouts (for docs)."""
        match = _TREE.match(url.rstrip("/"))
        repo_url, ref, sub = (
            (match["repo"], unquote(match["ref"]), unquote(match["path"] or ""))
            if match
            else (url.rstrip("/"), None, "")
        )
        candidates = [repo_url, repo_url.removesuffix(".git")]
        with contextlib.suppress(CatalogError):
            candidates.append(self.followed_repo(repo_url, ref).url)
        for (known_url, known_ref), directory in self._checkouts.items():
            same = known_url.removesuffix(".git") in {c.removesuffix(".git") for c in candidates}
            if same and (ref is None or known_ref in (None, ref)):
                if repo_path_problem(sub or "x") is not None:
                    return None
                return directory / sub if sub else directory
        return None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(
        self, known: Mapping[str, KnownFile], force: bool = False, prepare: bool = False
    ) -> list[FileRead]:
        with (
            self._exclusive(),
            ThreadPoolExecutor(
                max_workers=self.git.parallel_fetches, thread_name_prefix=f"git-{self.name}"
            ) as pool,
        ):
            tree = GitTree(self, pool)
            entries = self.entries()
            starts = [f"{tree.checkout(e.repo).slug}/{e.path}" for e in entries]
            # What the last sync reached is most likely reached again: fetch it all now, in
            # parallel, rather than one repository at a time as the walk gets there.
            for slug in dict.fromkeys(s for s in (split_slug(p)[0] for p in known) if s):
                tree.revisit(slug)
            if self.strict:
                for entry, start in zip(entries, starts, strict=True):
                    self._check_entry(tree, entry, start)
                self._commit = tree.checkout(entries[0].repo).future.result() if entries else None
            reads: list[FileRead] = []
            seen: set[str] = set()
            for start in starts:
                for read in walk(tree, start, known, force, self.parse_workers, prepare=prepare):
                    if read.path not in seen:
                        seen.add(read.path)
                        reads.append(read)
            if self.strict and reads and not reads[0].readable:
                raise SourceError(f"source {self.name}: {scrub(str(reads[0].problems[0]))}")
            self._checkouts = {
                (c.repo.url, c.repo.ref): c.directory
                for c in tree.checkouts.values()
                if c.future.done() and c.future.exception() is None
            }
            reached = {split_slug(r.path)[0] for r in reads}
            self._prune(reached | {tree.checkout(e.repo).slug for e in entries})
            return reads

    def _check_entry(self, tree: GitTree, entry: GitEntry, start: str) -> None:
        error = tree.checkout(entry.repo).wait()
        if error is not None:
            raise SourceError(f"source {self.name}: {error}")
        if not os.path.lexists(tree.root / start):
            raise SourceError(
                f"source {self.name}: {entry.path} does not exist in {entry.repo.shown}"
            )

    def _prune(self, used: set[str | None]) -> None:
        """Remove checkouts nothing reached this time (repositories dropped from the catalog)."""
        for directory in _checkout_dirs(self.root):
            slug = directory.relative_to(self.root).as_posix()
            if slug not in used:
                log.info("source %s: removing unused checkout %s", self.name, slug)
                shutil.rmtree(directory, ignore_errors=True)
                parent = directory.parent
                while parent != self.root and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent


def _checkout_dirs(root: Path) -> Iterator[Path]:
    """Folders under ``root`` that are checkouts (they hold a ``.git`` folder)."""
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            children = [p for p in current.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            continue
        for child in children:
            if (child / ".git").is_dir():
                yield child
            elif not child.name.startswith("."):
                stack.append(child)


def cache_root(settings: Settings) -> Path:
    """Where git checkouts live: ``git.cache_dir``, else ``<data_dir>/git``."""
    git = settings.optional_section(SECTION, GitSettings) or GitSettings()
    return git.cache_dir or settings.data_dir / "git"


def source_folder(name: str) -> str:
    """A source name as a folder name (names may hold ``:`` and ``/``)."""
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{_safe(name)[:60]}-{digest}"


def from_settings(cfg: SourceSettings, settings: Settings, db: Database) -> GitSource:
    """Build a configured git source (the ``git`` source factory of ``build_app``)."""
    options = cfg.options["git"]
    assert isinstance(options, GitSourceOptions)
    git = settings.optional_section(SECTION, GitSettings) or GitSettings()
    token, username = options.token, options.username
    if not token.configured and "://" in options.url:
        integration = git.integration(urlsplit(options.url).netloc.rpartition("@")[2])
        if integration is not None:
            token, username = integration.token, integration.username
    repo = RepoSpec(options.url, options.ref, token, username, options.depth)
    entry = GitEntry(repo, options.path)
    return GitSource(
        cfg.name,
        lambda: [entry],
        cache_root(settings) / source_folder(cfg.name),
        git,
        max_file_bytes=settings.catalog.max_file_mb * 2**20,
        parse_workers=settings.catalog.workers,
        placeholder_file_bytes=settings.catalog.placeholder_file_mb * 2**20,
        placeholder_sync_bytes=settings.catalog.placeholder_sync_mb * 2**20,
        shown_location=f"{scrub(options.url)} @ {options.ref or 'default branch'} : {options.path}",
    )

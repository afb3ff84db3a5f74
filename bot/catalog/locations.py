"""Runtime locations: repositories registered while Callboard runs, synced with the rest.

The scaffolder registers each repository it creates::

    location = register_location(services, "https://github.com/acme/new-api", "catalog-info.yaml")
    report = await services.sync.run_async(only=RUNTIME_SOURCE)   # /whoowns new-service answers

or both at once with ``await register_and_sync(services, ...)``. A location is a git repository URL
(or a Backstage-style file URL, ``https://host/org/repo/blob/<ref>/<path>``), the path of its
catalog file and an optional ref; it is stored in the database, so every replica and every
restart syncs it. All registered locations form one git source, ``registered-locations``, synced
after the configured sources (which therefore win any duplicate) and refreshed like them. A
registered repository that cannot be fetched keeps its entities and shows why in
``/callboard status``; the others are unaffected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from bot.catalog.git_source import (
    DEFAULT_PATH,
    SECTION,
    GitEntry,
    GitSettings,
    GitSource,
    RepoSpec,
    cache_root,
    ref_problem,
    remote_url_problem,
    repo_path_problem,
    source_folder,
)
from bot.catalog.remote import scrub
from bot.catalog.sync import SourceReport
from bot.errors import BadArguments

if TYPE_CHECKING:
    from bot.catalog.updates import CatalogUpdates
    from bot.config import Settings
    from bot.ports import RuntimeLocationStore

P = ParamSpec("P")
T = TypeVar("T")


class LocationsHost(Protocol):
    """What registering a location needs (``bot.services.Services`` has it, so does the
    scaffolder)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def locations(self) -> RuntimeLocationStore: ...

    @property
    def sync(self) -> CatalogUpdates: ...

    def clock(self) -> dt.datetime: ...

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...


RUNTIME_SOURCE = "registered-locations"
_BLOB_MARKERS = ("/-/blob/", "/blob/")


@dataclass(frozen=True)
class RuntimeLocation:
    """A registered repository and the catalog file in it."""

    id: int
    url: str
    ref: str | None  # None: the remote's default branch
    path: str
    added_at: dt.datetime
    added_by: str | None = None

    def __str__(self) -> str:
        return f"{scrub(self.url)} ({self.ref or 'default branch'}) {self.path}"


def parse_location(
    url: str, path: str | None = None, ref: str | None = None
) -> tuple[str, str | None, str]:
    """Check and split a location: ``(repository URL, ref, path)``; ``BadArguments`` says why."""
    url = url.strip()
    for marker in _BLOB_MARKERS:
        head, found, tail = url.partition(marker)
        if found and "/" in tail and path is None and ref is None:
            blob_ref, _, blob_path = tail.partition("/")
            url, ref, path = head, unquote(blob_ref), unquote(blob_path)
            break
    problem = remote_url_problem(url)
    if problem:
        raise BadArguments(f"The repository URL {problem}.")
    if ref is not None and ref.strip():
        ref = ref.strip()
        problem = ref_problem(ref)
        if problem:
            raise BadArguments(f"The ref {problem}.")
    else:
        ref = None
    path = (path or DEFAULT_PATH).strip()
    problem = repo_path_problem(path)
    if problem:
        raise BadArguments(f"The catalog file path {problem}.")
    return url, ref, path


def list_locations(store: RuntimeLocationStore) -> list[RuntimeLocation]:
    """Every registered location, oldest first."""
    return store.all()


def register_location(
    app: LocationsHost,
    url: str,
    path: str | None = None,
    ref: str | None = None,
    *,
    added_by: str | None = None,
) -> RuntimeLocation:
    """Store a location (idempotent) and make sure the app syncs registered locations.

    ``url`` is a repository URL (``https://``, ``ssh://``, ``git@host:org/repo``, ``file://``)
    or a file URL ``https://host/org/repo/blob/<ref>/<path>``. Nothing is fetched here: the
    next sync of ``RUNTIME_SOURCE`` reads it (see ``register_and_sync``).
    """
    url, ref, path = parse_location(url, path, ref)
    store = app.locations
    found = store.find(url, ref, path)
    if found is None:
        store.add(url, ref, path, app.clock(), added_by)
        found = store.find(url, ref, path)
        assert found is not None
    ensure_runtime_source(app)
    return found


def unregister_location(app: LocationsHost, location_id: int) -> RuntimeLocation | None:
    """Forget a location; the next sync of ``RUNTIME_SOURCE`` removes its entities."""
    return app.locations.remove(location_id)


async def register_and_sync(
    app: LocationsHost,
    url: str,
    path: str | None = None,
    ref: str | None = None,
    *,
    added_by: str | None = None,
) -> tuple[RuntimeLocation, SourceReport]:
    """Register a location and sync the registered locations now (in a worker thread)."""
    location = await app.offload(register_location, app, url, path, ref, added_by=added_by)
    report = await app.sync.run_async(only=RUNTIME_SOURCE)
    return location, report.sources[0]


def _repo(git: GitSettings, location: RuntimeLocation) -> RepoSpec:
    """How to fetch a registered repository: with its host's integration token, if any."""
    if "://" in location.url:
        parts = urlsplit(location.url)
        integration = git.integration(parts.netloc)
        if integration is not None:
            url = integration.clone_url(parts.scheme, parts.path)
            return RepoSpec(url, location.ref, integration.token, integration.username)
    return RepoSpec(location.url, location.ref)


def runtime_source(settings: Settings, store: RuntimeLocationStore) -> GitSource:
    """The git source that reads every registered location (lenient: one bad repository does
    not fail the others)."""
    git = settings.optional_section(SECTION, GitSettings) or GitSettings()

    def entries() -> list[GitEntry]:
        return [
            GitEntry(_repo(git, loc), loc.path, f"registered location {loc.id}")
            for loc in store.all()
        ]

    return GitSource(
        RUNTIME_SOURCE,
        entries,
        cache_root(settings) / source_folder(RUNTIME_SOURCE),
        git,
        strict=False,
        max_file_bytes=settings.catalog.max_file_mb * 2**20,
        parse_workers=settings.catalog.workers,
        placeholder_file_bytes=settings.catalog.placeholder_file_mb * 2**20,
        placeholder_sync_bytes=settings.catalog.placeholder_sync_mb * 2**20,
        shown_location="repositories registered at runtime",
    )


def has_locations(store: RuntimeLocationStore) -> bool:
    """True when any location is registered (False when the table is not there yet)."""
    return store.any()


def ensure_runtime_source(app: LocationsHost) -> GitSource:
    """The app's registered-locations source, added to its sync when missing."""
    for source in app.sync.sources:
        if source.name == RUNTIME_SOURCE and isinstance(source, GitSource):
            return source
    created = runtime_source(app.settings, app.locations)
    app.sync.sources.append(created)
    return created

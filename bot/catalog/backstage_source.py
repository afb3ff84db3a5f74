"""The ``backstage`` catalog source: every entity of a running Backstage, with its relations.

Reads ``GET {url}/api/catalog/entities/by-query`` page by page, following
``pageInfo.nextCursor`` and sending ``limit`` on every request (the documented default page
size is 20, the server's 200: never rely on either). Relations are kept exactly as Backstage
computed them; Callboard derives none for this source. Entities are grouped by the location
that manages them (``backstage.io/managed-by-location``), so a group whose content did not
change since the last sync is not written again, and problems name that location.

A sync is all or nothing: a page that fails (an HTTP error, a timeout, a redirect loop, a
refused token, an answer that is not the catalog's JSON) fails the source, and its last good
entities stay. Requests use the standard library (``urllib``) from the sync's worker thread;
the bearer token is never sent to another origin on a redirect and never shown. Each page
request is counted in the app's metrics (``calls``: api ``backstage``, endpoint ``entities``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from bot.annotations import MANAGED_BY_LOCATION
from bot.apicalls import (
    CONNECTION,
    INVALID_RESPONSE,
    TIMEOUT,
    TOO_LARGE,
    ApiCalls,
    counted,
    http_error,
)
from bot.catalog.files import FileRead, KnownFile
from bot.catalog.model import DEFAULT_NAMESPACE, EntityRef, Relation
from bot.catalog.problems import Problem
from bot.catalog.remote import TokenSpec, read_token, scrub, url_has_password
from bot.catalog.sync import PrebuiltRead
from bot.catalog.yamlload import Document
from bot.config import Section, SourceSettings
from bot.errors import CatalogError, SourceError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store.db import Database

log = logging.getLogger(__name__)

QUERY_PATH = "/api/catalog/entities/by-query"
NO_LOCATION = "(no managed-by-location)"
MAX_REDIRECTS = 5
MAX_PAGES = 100_000
_MAX_GROUP_KEY = 1000  # catalog_files.path holds 1024 characters
_MAX_RELATION_TYPE = 40  # relations.type holds 40 characters
_USER_AGENT = "callboard-catalog-sync"
ENDPOINT = "entities"  # the metrics' endpoint class of a by-query page
REDIRECT = "redirect"  # the metrics' error word for a redirect not followed or looping


@dataclass(frozen=True)
class BackstageOptions:
    """A configured ``type: backstage`` source."""

    url: str  # the backend's base URL, without a trailing slash
    token: TokenSpec
    page_size: int = 500
    timeout_seconds: int = 30
    filters: tuple[str, ...] = ()  # Backstage filter sets, ORed (``kind=component``)
    max_page_mb: int = 64
    max_total_mb: int = 256  # everything one sync may hold (all pages' bodies together)
    max_entities: int = 200_000


def base_url_problem(url: str) -> str | None:
    """Why ``url`` is not a Backstage backend base URL, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL of the Backstage backend, found {scrub(url)!r}"
    if url_has_password(url):
        return (
            f"contains credentials ({scrub(url)}); remove them and give the token through "
            "`token: ${VARIABLE}` or `token_env: VARIABLE`"
        )
    if parts.query or parts.fragment:
        return f"must be a base URL without ?query or #fragment, found {scrub(url)!r}"
    return None


def parse_backstage_source(sec: Section, index: int, refresh: int) -> SourceSettings:
    """Read one ``type: backstage`` entry of ``catalog.sources``."""
    url = str(sec.req_str("url")).strip().rstrip("/")
    url = url.removesuffix(QUERY_PATH).removesuffix("/api/catalog")
    problem = base_url_problem(url)
    if problem:
        raise sec.error("url", problem)
    options = BackstageOptions(
        url=url,
        token=read_token(sec),
        page_size=sec.int("page_size", 500, minimum=1),
        timeout_seconds=sec.int("timeout_seconds", 30, minimum=1),
        filters=sec.str_list("filter"),
        max_page_mb=sec.int("max_page_mb", 64, minimum=1),
        max_total_mb=sec.int("max_total_mb", 256, minimum=1),
        max_entities=sec.int("max_entities", 200_000, minimum=1),
    )
    name = sec.str("name") or f"backstage:{urlsplit(url).netloc}"
    sec.done()
    return SourceSettings(
        "backstage", name, refresh_minutes=refresh, options={"backstage": options}
    )


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow a few redirects; keep the token only on the same origin; no downgrade to http."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, origin: tuple[str, str], bearer: str | None) -> None:
        super().__init__()
        self.origin = origin
        self.bearer = bearer

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        parts = urlsplit(newurl)
        if parts.scheme not in ("http", "https"):
            raise _PageError(
                f"redirected to a non-HTTP URL ({scrub(newurl)}); not followed", REDIRECT
            )
        if self.origin[0] == "https" and parts.scheme == "http":
            raise _PageError(
                f"redirected from https to plain http ({scrub(newurl)}); not followed", REDIRECT
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and self.bearer and (parts.scheme, parts.netloc) == self.origin:
            new.add_unredirected_header("Authorization", f"Bearer {self.bearer}")
        return new


class _PageError(Exception):
    """One page could not be fetched; the message is scrubbed. ``kind`` is the bounded word the
    metrics count it by (``bot.apicalls``)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class _NotCatalog(_PageError):
    """A page that is JSON, but not the catalog's answer (no ``items`` list)."""


class _Deadline:
    """A wall-clock limit on one request: when it passes, every socket the request opened is
    shut down, which ends a read blocked on a server that trickles its answer (the socket
    timeout only bounds each wait for the next byte)."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Deadlines:
    """Where the HTTP handlers find the current request's ``_Deadline``."""

    current: _Deadline | None = None


def _tracked(
    cls: type[http.client.HTTPConnection], deadlines: _Deadlines
) -> Callable[..., http.client.HTTPConnection]:
    """A connection factory for ``do_open`` that hands each socket to the current deadline."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        conn = cls(*args, **kwargs)
        connect = conn.connect

        def connect_tracked() -> None:
            connect()
            if deadlines.current is not None:
                deadlines.current.track(conn.sock)

        conn.connect = connect_tracked  # type: ignore[method-assign]
        return conn

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadlines: _Deadlines) -> None:
        super().__init__()
        self.deadlines = deadlines

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = _tracked(http.client.HTTPConnection, self.deadlines)
        return self.do_open(factory, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadlines: _Deadlines) -> None:
        super().__init__()
        self.deadlines = deadlines

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = _tracked(http.client.HTTPSConnection, self.deadlines)
        return self.do_open(factory, req)


@dataclass
class FetchResult:
    """Every entity Backstage served, and how the paging went."""

    items: list[dict[str, Any]]
    pages: int


class BackstageSource:
    """Entities, with relations, from a running Backstage's catalog REST API."""

    type = "backstage"

    def __init__(self, name: str, options: BackstageOptions) -> None:
        self.name = name
        self.options = options
        self._deadlines = _Deadlines()
        # Where each page request is counted (the app's metrics; set by the composition root).
        self.calls: ApiCalls | None = None

    @property
    def location(self) -> str:
        return scrub(self.options.url)

    # -- HTTP

    def _opener(self, bearer: str | None) -> urllib.request.OpenerDirector:
        parts = urlsplit(self.options.url)
        return urllib.request.build_opener(
            _Redirects((parts.scheme, parts.netloc), bearer),
            _HTTPHandler(self._deadlines),
            _HTTPSHandler(self._deadlines),
        )

    def _get(
        self, opener: urllib.request.OpenerDirector, url: str, bearer: str | None
    ) -> tuple[Any, int]:
        """One page's JSON and its size in bytes, within ``timeout_seconds`` of wall clock."""
        deadline = _Deadline(self.options.timeout_seconds)
        self._deadlines.current = deadline
        try:
            with deadline:
                return self._get_within(opener, url, bearer, deadline)
        finally:
            self._deadlines.current = None

    def _get_within(
        self,
        opener: urllib.request.OpenerDirector,
        url: str,
        bearer: str | None,
        watchdog: _Deadline,
    ) -> tuple[Any, int]:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT}
        )
        if bearer:
            # unredirected: urllib would otherwise copy it to wherever a redirect points
            request.add_unredirected_header("Authorization", f"Bearer {bearer}")
        timeout = self.options.timeout_seconds
        limit = self.options.max_page_mb * 2**20
        answered = False
        try:
            with opener.open(request, timeout=timeout) as response:
                answered = True
                content_type = response.headers.get("Content-Type", "")
                deadline = time.monotonic() + timeout
                chunks: list[bytes] = []
                size = 0
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise _PageError(
                            f"answered more than {self.options.max_page_mb} MB for one page; "
                            "lower page_size",
                            TOO_LARGE,
                        )
                    if time.monotonic() > deadline:
                        raise _PageError(f"took longer than {timeout}s to send one page", TIMEOUT)
                    chunks.append(chunk)
            if watchdog.fired:  # the answer ended because the deadline shut the socket
                raise _PageError(f"took longer than {timeout}s to send one page", TIMEOUT)
        except _PageError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if watchdog.fired and answered:
                raise _PageError(f"took longer than {timeout}s to send one page", TIMEOUT) from None
            if watchdog.fired:
                raise _PageError(f"did not answer within {timeout}s", TIMEOUT) from None
            raise _PageError(self._translate(exc, timeout), _error_kind(exc)) from None
        body = b"".join(chunks)
        try:
            return json.loads(body), size
        except ValueError:
            snippet = scrub(body[:80].decode("utf-8", "replace")).replace("\n", " ")
            raise _PageError(
                f"did not answer with JSON (Content-Type {content_type or 'none'}, starting "
                f"{snippet!r}); is url the Backstage backend's base URL?",
                INVALID_RESPONSE,
            ) from None

    def _translate(
        self, exc: urllib.error.URLError | http.client.HTTPException | OSError, timeout: int
    ) -> str:
        """What went wrong, for what urllib raised."""
        if isinstance(exc, urllib.error.HTTPError):
            return self._http_error(exc)
        if isinstance(exc, urllib.error.URLError):
            reason = exc.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                return f"did not answer within {timeout}s"
            return f"cannot connect to {scrub(self.options.url)} ({reason})"
        if isinstance(exc, TimeoutError):
            return f"did not answer within {timeout}s"
        return f"the connection broke ({type(exc).__name__}: {exc})"

    def _http_error(self, exc: urllib.error.HTTPError) -> str:
        code = exc.code
        location = exc.headers.get("Location") if exc.headers is not None else None
        if (
            300 <= code < 400
            and location
            and urlsplit(location).scheme not in ("http", "https", "")
        ):
            # urllib refuses it before our redirect handler sees it; say what it was
            return f"redirected to a non-HTTP URL ({scrub(location)}); not followed"
        if 300 <= code < 400:
            return (
                f"redirect loop: more than {MAX_REDIRECTS} redirects, or the same one repeated, "
                f"starting at {scrub(self.options.url)}"
            )
        if code in (401, 403):
            if self.options.token.configured:
                return f"Backstage refused {self.options.token.describe()} (HTTP {code})"
            return (
                f"Backstage wants a token (HTTP {code}); set token_env to a variable holding "
                "an external-access token"
            )
        if code == 404:
            return (
                f"HTTP 404 for {QUERY_PATH}: is {scrub(self.options.url)} the Backstage "
                "backend's base URL (Backstage 1.12 or later)?"
            )
        return f"HTTP {code} {exc.reason}"

    def fetch(self) -> FetchResult:
        """Every entity, page by page; raises ``SourceError`` naming the page that failed."""
        who = f"source {self.name}"
        try:
            bearer = self.options.token.resolve()
        except SourceError as exc:
            raise SourceError(f"{who}: {exc}") from None
        opener = self._opener(bearer)
        first = [("limit", str(self.options.page_size))]
        first += [("filter", f) for f in self.options.filters]
        endpoint = f"{self.options.url}{QUERY_PATH}"
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        page = 0
        total = 0
        max_total = self.options.max_total_mb * 2**20
        while True:
            page += 1
            params = first if cursor is None else [("limit", first[0][1]), ("cursor", cursor)]
            try:
                with counted(self.calls, "backstage", ENDPOINT):
                    data, size = self._get(opener, f"{endpoint}?{urlencode(params)}", bearer)
                    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                        raise _NotCatalog("no items list", INVALID_RESPONSE)
            except _NotCatalog:
                raise SourceError(
                    f"{who}: page {page} of {scrub(endpoint)} is not a catalog answer "
                    "(no items list); is url the Backstage backend's base URL?"
                ) from None
            except _PageError as exc:
                raise SourceError(
                    f"{who}: page {page} of {scrub(endpoint)} failed: {scrub(str(exc))}"
                ) from None
            total += size
            if total > max_total:
                raise SourceError(
                    f"{who}: {scrub(endpoint)} sent more than {self.options.max_total_mb} MB "
                    f"in {page} pages (max_total_mb); nothing written, the last good entities "
                    "are kept"
                )
            items.extend(data["items"])
            if len(items) > self.options.max_entities:
                raise SourceError(
                    f"{who}: {scrub(endpoint)} served more than {self.options.max_entities:,} "
                    f"entities in {page} pages (max_entities); nothing written, the last good "
                    "entities are kept"
                )
            info = data.get("pageInfo")
            cursor = info.get("nextCursor") if isinstance(info, dict) else None
            if not cursor:
                return FetchResult(items, page)
            if not isinstance(cursor, str) or cursor in seen or page >= MAX_PAGES:
                raise SourceError(
                    f"{who}: paging of {scrub(endpoint)} does not advance (page {page} "
                    "repeats a cursor)"
                )
            seen.add(cursor)

    # -- entities

    def read(
        self, known: Mapping[str, KnownFile], force: bool = False, prepare: bool = False
    ) -> list[FileRead]:
        started = time.perf_counter()
        fetched = self.fetch()
        problems: list[Problem] = []
        by_ref: dict[str, tuple[str, dict[str, Any], list[Relation]]] = {}
        for position, item in enumerate(fetched.items):
            entry = _normalise(item, position, problems)
            if entry is not None:
                ref, group, doc, rels = entry
                by_ref[ref] = (group, doc, rels)  # paging during a change: the last one wins
        groups: dict[str, list[tuple[str, dict[str, Any], list[Relation]]]] = {}
        for ref in sorted(by_ref):
            group, doc, rels = by_ref[ref]
            groups.setdefault(group, []).append((ref, doc, rels))
        reads: list[FileRead] = []
        for group in sorted(groups):
            members = groups[group]
            digest = hashlib.sha256(
                json.dumps(
                    [
                        [doc, [[str(r.type), str(r.target)] for r in rels]]
                        for _, doc, rels in members
                    ],
                    sort_keys=True,
                    separators=(",", ":"),
                    default=str,
                ).encode()
            ).hexdigest()
            previous = known.get(group)
            if previous is not None and previous.sha256 == digest and not force:
                reads.append(PrebuiltRead(group, sha256=digest))
                continue
            reads.append(
                PrebuiltRead(
                    group,
                    sha256=digest,
                    # no line number: these come from an API, not a file
                    documents=[Document(doc, None) for _, doc, _ in members],  # type: ignore[arg-type]
                    relations=[rels for _, _, rels in members],
                )
            )
        if problems:
            # Problems with single items are shown on the first group (they have no location).
            if not reads:
                reads.append(PrebuiltRead(NO_LOCATION, sha256="", documents=[]))
            reads[0].problems.extend(problems)
        log.info(
            "source %s: %d entities in %d pages from %s in %.2fs",
            self.name,
            len(fetched.items),
            fetched.pages,
            self.location,
            time.perf_counter() - started,
        )
        return reads


def _error_kind(exc: urllib.error.URLError | http.client.HTTPException | OSError) -> str:
    """The metrics' word for what urllib raised (``_translate`` says it in words)."""
    if isinstance(exc, urllib.error.HTTPError):
        return REDIRECT if 300 <= exc.code < 400 else http_error(exc.code)
    if isinstance(exc, urllib.error.URLError):
        return TIMEOUT if isinstance(exc.reason, TimeoutError) else CONNECTION
    return TIMEOUT if isinstance(exc, TimeoutError) else CONNECTION


def _normalise(
    item: Any, position: int, problems: list[Problem]
) -> tuple[str, str, dict[str, Any], list[Relation]] | None:
    """(ref, group, document without relations/status/etag, relations) or ``None``."""
    where = f"item {position + 1}"
    if not isinstance(item, dict):
        problems.append(Problem("error", f"{where} is not an entity object; skipped"))
        return None
    meta = item.get("metadata")
    kind, api_version = item.get("kind"), item.get("apiVersion")
    if (
        not isinstance(meta, dict)
        or not isinstance(kind, str)
        or not isinstance(api_version, str)
        or not isinstance(meta.get("name"), str)
        or not isinstance(meta.get("namespace", DEFAULT_NAMESPACE), str)
    ):
        problems.append(
            Problem("error", f"{where} lacks a string apiVersion, kind or metadata.name; skipped")
        )
        return None
    if kind.lower() == "location":
        return None  # Locations are how entities arrive, not catalog entries (as for files)
    ref = EntityRef.make(kind, meta.get("namespace") or DEFAULT_NAMESPACE, meta["name"])
    metadata = {k: v for k, v in meta.items() if k != "etag"}  # the etag changes on every stitch
    doc: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if "spec" in item:
        doc["spec"] = item["spec"]
    annotations = metadata.get("annotations")
    managed = annotations.get(MANAGED_BY_LOCATION) if isinstance(annotations, dict) else None
    group = scrub(managed).replace("\0", "") if isinstance(managed, str) and managed else ""
    group = group or NO_LOCATION
    if len(group) > _MAX_GROUP_KEY:
        digest = hashlib.sha1(group.encode(), usedforsecurity=False).hexdigest()[:12]
        group = f"{group[: _MAX_GROUP_KEY - 14]}…~{digest}"
    rels: list[Relation] = []
    for raw in item.get("relations") or ():
        relation = _relation(ref, raw)
        if isinstance(relation, str):
            problems.append(Problem("warning", relation, group, None, str(ref)))
        else:
            rels.append(relation)
    return str(ref), group, doc, rels


def _relation(source: EntityRef, raw: Any) -> Relation | str:
    """A relation as Backstage serves it (``targetRef``, or the legacy ``target`` object)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return f"a relation without a type was skipped: {str(raw)[:80]}"
    rel_type = raw["type"]
    if len(rel_type) > _MAX_RELATION_TYPE:
        return f"relation type {rel_type[:60]!r} is longer than {_MAX_RELATION_TYPE}; skipped"
    target_ref = raw.get("targetRef")
    try:
        if isinstance(target_ref, str):
            target = EntityRef.parse(target_ref)
        elif isinstance(raw.get("target"), dict):  # catalog-backend before 4.0
            t = raw["target"]
            target = EntityRef.make(
                str(t["kind"]), str(t.get("namespace") or "default"), str(t["name"])
            )
        else:
            return f"relation {rel_type} has no targetRef; skipped"
    except (CatalogError, KeyError) as exc:
        return f"relation {rel_type} has an unreadable target ({exc}); skipped"
    return Relation(source, rel_type, target)


def from_settings(cfg: SourceSettings, settings: Settings, db: Database) -> BackstageSource:
    """Build a configured Backstage source (the ``backstage`` source factory of ``build_app``)."""
    options = cfg.options["backstage"]
    assert isinstance(options, BackstageOptions)
    return BackstageSource(cfg.name, options)


__all__: Sequence[str] = (
    "BackstageOptions",
    "BackstageSource",
    "base_url_problem",
    "from_settings",
    "parse_backstage_source",
)

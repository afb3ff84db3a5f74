"""Links to a docs page and section: Backstage's TechDocs URL, a configured pattern, or the repo.

TechDocs serves ``/docs/:namespace/:kind/:name/*`` with the triplet lower-cased, and MkDocs
gives each page a directory URL (``runbook.md`` → ``runbook/``, ``index.md`` → the site root).
Without Backstage, a link opens the Markdown file in the repository's web view, with the
anchor GitHub itself would give the heading.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Mapping

from bot.annotations import GITHUB_PROJECT_SLUG, SOURCE_LOCATION
from bot.catalog.model import Entity
from bot.docs.settings import BACKSTAGE_PATTERN

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_TREE = re.compile(r"/(-/)?tree/")


def page_url(path: str) -> str:
    """The MkDocs URL path of a page, without slashes around it (``""`` for the home page)."""
    stem, _ext = posixpath.splitext(path)
    folder, name = posixpath.split(stem)
    if name.lower() in ("index", "readme"):
        return folder
    return stem


def fill(pattern: str, values: Mapping[str, str]) -> str:
    """Put values into ``{name}`` placeholders (no format-string features: config is data)."""
    url = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), pattern)
    scheme, sep, rest = url.partition("://")
    if sep:
        url = scheme + sep + re.sub(r"/{2,}", "/", rest)
    url = re.sub(r"/?#$", "/", url) if url.endswith("#") else url
    return url


def github_anchor(title: str) -> str:
    """The id GitHub gives a heading: lower-cased, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFC", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def repo_base(entity: Entity, techdocs_ref: str) -> str | None:
    """The repository web URL the docs folder is relative to, if the entity names one."""
    kind, _, target = techdocs_ref.partition(":")
    if kind.strip() == "url" and "://" in target:
        return target.strip().rstrip("/")
    source = entity.annotations.get(SOURCE_LOCATION, "")
    kind, _, target = source.partition(":")
    if kind == "url" and target.startswith(("https://", "http://")):
        return target.rstrip("/")
    slug = entity.annotations.get(GITHUB_PROJECT_SLUG)
    if slug and re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        return f"https://github.com/{slug}"
    return None


def blob_url(base: str, path: str) -> str:
    """A file's web URL under a repository (or tree) URL."""
    if _TREE.search(base):
        base = _TREE.sub(lambda m: f"/{m.group(1) or ''}blob/", base, count=1)
    elif re.match(r"https?://(www\.)?github\.com/[^/]+/[^/]+$", base):
        base += "/blob/HEAD"
    elif re.match(r"https?://[^/]*gitlab[^/]*/", base) and "/-/" not in base:
        base += "/-/blob/HEAD"
    return f"{base}/{path.lstrip('/')}"


def docs_link(
    entity: Entity,
    *,
    pattern: str | None,
    backstage_url: str | None,
    techdocs_ref: str,
    repo_path: str | None,
    docs_dir: str | None,
    page: str,
    anchor: str,
    heading: str | None = None,
) -> str | None:
    """The link for a page (and section) of ``entity``'s docs, or ``None`` if none can be made."""
    values = {
        "backstage": backstage_url or "",
        "namespace": entity.ref.namespace,
        "kind": entity.ref.kind,
        "name": entity.ref.name,
        "page": page_url(page),
        "path": page,
        "anchor": anchor,
    }
    if pattern:
        return fill(pattern, values)
    if backstage_url:
        return fill(BACKSTAGE_PATTERN, values)
    base = repo_base(entity, techdocs_ref)
    if base is None:
        return None
    rel = posixpath.normpath(posixpath.join(repo_path or ".", docs_dir or "docs", page))
    if rel.startswith("../"):
        return None  # the docs are not inside the repository the entity names
    url = blob_url(base, rel)
    if anchor:
        github = "github.com" in base or "gitlab" in base
        url += "#" + (github_anchor(heading) if github and heading else anchor)
    return url

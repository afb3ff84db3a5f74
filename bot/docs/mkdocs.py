"""``mkdocs.yml`` as TechDocs reads it: ``site_name``, ``nav`` and ``docs_dir`` with its rules.

TechDocs accepts ``mkdocs.yml`` or ``mkdocs.yaml``; ``docs_dir`` defaults to ``docs`` and may be
neither absolute nor start with ``../`` (Backstage's ``validateMkdocsYaml``); Callboard also
refuses one that climbs out by ``..`` further in. Real ``mkdocs.yml`` files carry tags a safe
loader does not know (``!!python/name:material.extensions.emoji.twemoji``, ``!ENV``): they
load as plain values instead of failing the whole file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from bot.catalog.problems import Problem

MKDOCS_FILES = ("mkdocs.yml", "mkdocs.yaml")
DEFAULT_DOCS_DIR = "docs"


@dataclass(frozen=True)
class NavEntry:
    """A page listed in ``nav``: its title (when given), docs-dir-relative path, and depth."""

    title: str | None
    path: str
    depth: int
    section: str | None = None  # the nav section it sits in, for display


@dataclass(frozen=True)
class MkdocsConfig:
    """What Callboard needs from an ``mkdocs.yml``."""

    site_name: str | None = None
    site_description: str | None = None
    docs_dir: str = DEFAULT_DOCS_DIR  # "" when the file's docs_dir was refused
    nav: tuple[NavEntry, ...] | None = None  # None: no nav, MkDocs lists every page
    repo_url: str | None = None
    edit_uri: str | None = None


class _Loader(yaml.CSafeLoader):
    """A safe loader that reads unknown tags (``!!python/name:...``, ``!ENV``) as plain data."""


def _any_tag(loader: yaml.CSafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return None


_Loader.add_multi_constructor("!", _any_tag)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _any_tag)


def docs_dir_error(value: str) -> str | None:
    """Why ``docs_dir`` is refused, or ``None`` when it is a safe relative path."""
    if value.startswith("/") or value.startswith("\\") or (len(value) > 1 and value[1] == ":"):
        return (
            f"docs_dir {value!r} is absolute: docs_dir configuration value in mkdocs can't be an "
            "absolute directory or start with ../ for security reasons"
        )
    if value.startswith("../") or value == "..":
        return (
            f"docs_dir {value!r} starts with ../: docs_dir configuration value in mkdocs can't be "
            "an absolute directory or start with ../ for security reasons"
        )
    normal = posixpath.normpath(value.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        return f"docs_dir {value!r} leaves the folder of mkdocs.yml; not read"
    return None


def parse_mkdocs(data: bytes, file: str) -> tuple[MkdocsConfig | None, list[Problem]]:
    """Parse ``mkdocs.yml`` bytes.

    ``None`` (with an error) when the file is unreadable, so MkDocs defaults may stand in; a
    config with an empty ``docs_dir`` when its ``docs_dir`` is refused, so nothing is read.
    """
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem("error", f"is not UTF-8 text (byte {exc.start}); not read", file)]
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return None, [Problem("error", f"invalid YAML: {exc.problem}", file, line)]
    except yaml.YAMLError as exc:
        return None, [Problem("error", f"invalid YAML: {exc}", file)]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, [Problem("error", "must be a mapping (site_name, nav, docs_dir...)", file)]

    def text_of(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        problems.append(Problem("warning", f"{key} must be a string; ignored", file))
        return None

    docs_dir = raw.get("docs_dir", DEFAULT_DOCS_DIR)
    if not isinstance(docs_dir, str) or not docs_dir.strip():
        return None, [Problem("error", f"docs_dir must be a folder name, found {docs_dir!r}", file)]
    why = docs_dir_error(docs_dir.strip())
    if why:
        # Refused for safety: an empty docs_dir tells the indexer to read nothing of this site,
        # rather than fall back to the default folder as it does for an unreadable file.
        return MkdocsConfig(docs_dir=""), [Problem("error", why, file)]
    nav: tuple[NavEntry, ...] | None = None
    if "nav" in raw and raw["nav"] is not None:
        if isinstance(raw["nav"], list):
            nav = tuple(_flatten(raw["nav"], 0, None, problems, file))
        else:
            problems.append(Problem("warning", "nav must be a list; every page is listed", file))
    if not text_of("site_name"):
        problems.append(Problem("warning", "has no site_name (MkDocs requires one)", file))
    config = MkdocsConfig(
        site_name=text_of("site_name"),
        site_description=text_of("site_description"),
        docs_dir=posixpath.normpath(docs_dir.strip().replace("\\", "/")),
        nav=nav,
        repo_url=text_of("repo_url"),
        edit_uri=text_of("edit_uri"),
    )
    return config, problems


def _flatten(
    items: list[Any], depth: int, section: str | None, problems: list[Problem], file: str
) -> Iterator[NavEntry]:
    for item in items:
        if isinstance(item, str):
            if not _external(item):
                yield NavEntry(None, _page_path(item), depth, section)
            continue
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(
                Problem("warning", f"nav entry {item!r} is not understood; skipped", file)
            )
            continue
        ((title, target),) = item.items()
        title_text = str(title) if title is not None else None
        if isinstance(target, str):
            if not _external(target):
                yield NavEntry(title_text, _page_path(target), depth, section)
        elif isinstance(target, list):
            yield from _flatten(target, depth + 1, title_text, problems, file)
        else:
            problems.append(
                Problem("warning", f"nav entry {title!r}: {target!r} is not a page; skipped", file)
            )


def _external(target: str) -> bool:
    return "://" in target or target.startswith(("mailto:", "#"))


def _page_path(target: str) -> str:
    return posixpath.normpath(target.strip().split("#", 1)[0])

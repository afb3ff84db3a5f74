"""Parse catalog YAML with libyaml, the way Backstage's ``parseEntityYaml`` does, safely.

Multi-document files are supported, ``null`` documents are skipped, a non-object document is an
error, merge keys (``<<``) are not applied (Backstage disables them). Hostile input is bounded:
alias expansion (a "billion laughs" file), nesting depth and undecodable bytes are reported as
problems on the file instead of exhausting memory or the stack.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import yaml

from bot.catalog.problems import Problem

MAX_EXPANDED_NODES = 200_000
"""Most nodes a document may have once its aliases are expanded (Backstage's yaml lib caps
aliases at 100; we cap what they expand to, which also allows ordinary anchor reuse)."""

MAX_DEPTH = 200


class _Loader(yaml.CSafeLoader):
    """CSafeLoader without merge keys: ``<<`` stays an ordinary key, as in Backstage."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        return None


def _construct_merge_key(loader: _Loader, node: yaml.Node) -> str:
    return "<<"


def _construct_timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    # Backstage's YAML 1.2 core schema reads 2024-01-01 as a string; keep the text as written.
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:merge", _construct_merge_key)

# YAML 1.2 booleans, as Backstage's parser reads them: `yes`, `no`, `on` and `off` stay strings.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


@dataclass(frozen=True)
class Document:
    """One parsed YAML document: its data and the 1-based line it starts on."""

    data: Any
    line: int


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """Node count with aliases expanded, memoised per node so the walk stays linear."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooDeep
        known = sizes.get(id(n))
        if known is not None:
            return known
        sizes[id(n)] = 1  # a recursive alias counts once while being measured
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                total += size(key, depth + 1) + size(value, depth + 1)
        if total > limit:
            raise _TooLarge
        sizes[id(n)] = total
        return total

    return size(node, 0)


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    pass


@dataclass(frozen=True)
class Parsed:
    """The object documents of a file, its problems, and whether the parse reached the end."""

    documents: list[Document]
    problems: list[Problem]
    complete: bool


def parse_documents(data: bytes, file: str) -> Parsed:
    """All object documents of a file, and a problem for each one that is not usable.

    A syntax error stops the parse at that document: the documents before it are returned and
    ``complete`` is false, so callers keep what the file held before instead of dropping it.
    """
    docs: list[Document] = []
    problems: list[Problem] = []
    if b"\x00" in data:
        return Parsed(docs, [Problem("error", "binary data: not a YAML text file", file)], False)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = Problem("error", f"not valid UTF-8 ({exc.reason})", file, line)
        return Parsed(docs, [problem], False)
    # Only files that use anchors pay for the alias-expansion and depth checks.
    guarded = "&" in text or "*" in text or text.count("[") > MAX_DEPTH or text.count("{") > MAX_DEPTH
    loader = _Loader(text)
    complete = False
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            if guarded:
                try:
                    _expanded_size(node, MAX_EXPANDED_NODES)
                except _TooLarge:
                    problems.append(
                        Problem(
                            "error",
                            f"document expands to more than {MAX_EXPANDED_NODES:,} nodes "
                            "through aliases (an alias bomb?); skipped",
                            file,
                            line,
                        )
                    )
                    continue
                except _TooDeep:
                    problems.append(
                        Problem("error", f"nesting deeper than {MAX_DEPTH} levels; skipped", file, line)
                    )
                    continue
            value = loader.construct_document(node)
            if value is None:
                continue
            if not isinstance(value, dict):
                problems.append(
                    Problem("error", f"Expected object at root, got {_type_name(value)}", file, line)
                )
                continue
            docs.append(Document(value, line))
        complete = True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        problems.append(Problem("error", f"YAML error: {reason}", file, line))
    except yaml.YAMLError as exc:
        problems.append(Problem("error", f"YAML error: {exc}", file))
    except RecursionError:
        problems.append(Problem("error", f"nesting deeper than {MAX_DEPTH} levels", file))
    finally:
        loader.dispose()
    return Parsed(docs, problems, complete)


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__

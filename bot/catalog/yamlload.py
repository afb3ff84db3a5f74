"""Parse catalog YAML with libyaml, the way Backstage's ``parseEntityYaml`` does, safely.

Multi-document files are supported, ``null`` documents are skipped, a non-object document is an
error, merge keys (``<<``) are not applied (Backstage disables them). Hostile input is bounded:
alias expansion (a "billion laughs" file), recursive aliases, nesting depth and undecodable bytes
are reported as problems on the file instead of exhausting memory or the stack.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from bot.catalog.problems import Problem

MAX_EXPANDED_NODES = 200_000
"""Most nodes a document may have once its aliases are expanded (Backstage's yaml lib caps
aliases at 100; we cap what they expand to, which also allows ordinary anchor reuse)."""

MAX_DEPTH = 200

MAX_YAML_ERRORS = 20
"""Syntax errors reported per file; past them the rest of the file is not read."""

SAFE_COMPOSE_DEPTH = 1000
"""Deepest nesting a file may possibly reach and still go to libyaml's composer, which recurses
on the C stack: a document nested some 40,000 levels deep (an 80 kB line of ``[``) kills the
interpreter, and libyaml's scanner slows down with every open flow level (100,000 of them take
half a minute). Files that might nest deeper are composed from libyaml's events here instead,
without recursion, and parsing stops as soon as a document passes ``MAX_DEPTH``."""


class _Loader(yaml.CSafeLoader):
    """CSafeLoader without merge keys: ``<<`` stays an ordinary key, as in Backstage."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.unknown_tags: list[tuple[str, int]] = []  # (tag, line), ignored with a warning

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        return None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Backstage's parser rejects a document that repeats a key ("Map keys must be unique");
        # libyaml would silently keep the last value.
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        if len(mapping) < len(node.value):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise _DuplicateKey(key_node.value, key_node.start_mark.line + 1)
                    seen.add(key)
        return mapping


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

# YAML 1.2 core schema numbers, as Backstage's parser (the `yaml` package) reads them. YAML 1.1
# also took `2:30` (sexagesimal), `1_000`, `0b101` and `012` (octal) for numbers: in 1.2 the
# first three are strings and `012` is twelve; `0o17` and `1e3` are numbers only in 1.2.
_INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
# Order matters: a text both could take (`12`) is an int, as in the 1.2 core schema.
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_12, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_int_12(loader: _Loader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if _INT_12.match(text) is None:  # an explicit !!int on other text: as the 1.2 schema would
        raise ValueError(f"not an integer: {text!r}")  # costs its document, as elsewhere
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_float_12(loader: _Loader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    lower = text.lower()
    if lower.endswith(".inf"):
        return -math.inf if lower.startswith("-") else math.inf
    if lower == ".nan":
        return math.nan
    if _FLOAT_12.match(text) is None and _INT_12.match(text) is None:
        raise ValueError(f"not a number: {text!r}")
    return float(_construct_int_12(loader, node)) if "0o" in text or "0x" in text else float(text)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int_12)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float_12)


def _construct_unknown_tag(loader: _Loader, node: yaml.Node) -> Any:
    """A tag no schema knows (`!Sub`, `!Ref`): a warning, and the value as if untagged.

    Backstage's parser does the same (it warns of an unresolved tag and keeps the value).
    """
    loader.unknown_tags.append((str(node.tag), node.start_mark.line + 1))
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return None


_Loader.add_constructor(None, _construct_unknown_tag)


@dataclass(frozen=True)
class Document:
    """One parsed YAML document: its data and the 1-based line it starts on."""

    data: Any
    line: int


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """Node count with aliases expanded, memoised per node so the walk stays linear.

    Raises ``_TooDeep`` past ``MAX_DEPTH``, ``_TooLarge`` past ``limit`` nodes and
    ``_Recursive`` for an alias inside its own anchor (which no JSON can hold).
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooDeep(n.start_mark.line + 1 if n.start_mark else None)
        known = sizes.get(id(n))
        if known is not None:
            return known
        if id(n) in open_nodes:
            raise _Recursive
        open_nodes.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                total += size(key, depth + 1) + size(value, depth + 1)
        if total > limit:
            raise _TooLarge
        open_nodes.discard(id(n))
        sizes[id(n)] = total
        return total

    return size(node, 0)


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, line: int | None = None) -> None:
        super().__init__(line)
        self.line = line


class _Recursive(Exception):
    pass


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels; the rest of the file is not read"

_OPENS = (
    yaml.FlowSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.BlockMappingStartToken,
)
_CLOSES = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


def _too_deep_line(text: str, until_line: int | None) -> int | None:
    """The line where nesting first passes ``MAX_DEPTH``, up to ``until_line``, else None.

    Asked only after libyaml gave up on a file that might nest that deep, to tell whether that
    is why, whatever the libyaml build's own limit and wording. PyYAML's pure-Python scanner
    counts the levels: it reads at most one line (or 1,024 characters) ahead of the token it
    returns, and stops here as soon as the limit is passed, so the cost stays small.
    """
    scanner: Any = yaml.SafeLoader(text)
    depth = 0
    try:
        while True:
            token = scanner.get_token()
            if token is None or isinstance(token, yaml.StreamEndToken):
                return None
            line: int = token.start_mark.line + 1
            if until_line is not None and line > until_line:
                return None
            if isinstance(token, _OPENS):
                depth += 1
                if depth > MAX_DEPTH:
                    return line
            elif isinstance(token, _CLOSES):
                depth -= 1
    except yaml.YAMLError:  # another mistake comes first: libyaml's message says which
        return None
    finally:
        scanner.dispose()


def _nesting_bound(text: str) -> int:
    """An upper bound of the nesting depth of any document in ``text``, found without parsing.

    Flow collections need a bracket per level; block collections need more indentation per
    level (a compact sequence under a key shares its column, so two levels per column at most).
    """
    longest = max(map(len, text.split("\n")))
    return text.count("[") + text.count("{") + 2 * longest + 2


def _compose_flat(loader: _Loader) -> Iterator[tuple[yaml.Node, int]]:
    """``(root node, line)`` per document, composed from events with an explicit stack.

    What libyaml's own composer builds, without its recursion. A document nested deeper than
    ``MAX_DEPTH`` raises ``_TooDeep`` at once: skipping the rest of it would still cost libyaml
    time quadratic in its depth.
    """
    loader.get_event()  # StreamStartEvent
    while not loader.check_event(yaml.StreamEndEvent):
        start: Any = loader.get_event()  # DocumentStartEvent
        anchors: dict[str, yaml.Node] = {}
        stack: list[yaml.Node] = []  # open collections, innermost last
        keys: list[yaml.Node | None] = []  # per open mapping, a key waiting for its value
        root: yaml.Node | None = None
        line = start.end_mark.line + 1
        while not loader.check_event(yaml.DocumentEndEvent):
            event: Any = loader.get_event()
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop().end_mark = event.end_mark
                keys.pop()
                continue
            node = _event_node(loader, event, anchors)
            if not stack:
                root, line = node, node.start_mark.line + 1
            elif isinstance(stack[-1], yaml.SequenceNode):
                stack[-1].value.append(node)
            elif keys[-1] is None:
                keys[-1] = node
            else:
                stack[-1].value.append((keys[-1], node))
                keys[-1] = None
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(node)
                keys.append(None)
                if len(stack) > MAX_DEPTH:
                    raise _TooDeep(node.start_mark.line + 1)
        loader.get_event()  # DocumentEndEvent
        if root is not None:
            yield root, line


def _event_node(loader: _Loader, event: Any, anchors: dict[str, yaml.Node]) -> yaml.Node:
    """The node one event stands for (a new one, or the anchored one an alias names)."""
    start: Any = event.start_mark
    if isinstance(event, yaml.AliasEvent):
        if event.anchor not in anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", start
            )
        return anchors[event.anchor]
    node: yaml.Node
    tag = event.tag
    resolve: Any = loader.resolve
    if isinstance(event, yaml.ScalarEvent):
        if tag is None or tag == "!":
            tag = resolve(yaml.ScalarNode, event.value, event.implicit)
        end: Any = event.end_mark
        node = yaml.ScalarNode(tag, event.value, start, end, style=event.style)
    else:
        is_sequence = isinstance(event, yaml.SequenceStartEvent)
        node_type = yaml.SequenceNode if is_sequence else yaml.MappingNode
        if tag is None or tag == "!":
            tag = resolve(node_type, None, event.implicit)
        node = node_type(tag, [], start, None, flow_style=event.flow_style)
    if event.anchor is not None:
        if event.anchor in anchors:  # as libyaml's composer: YAML 1.1 anchors are unique
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {event.anchor!r}; first occurrence",
                anchors[event.anchor].start_mark,
                "second occurrence",
                start,
            )
        anchors[event.anchor] = node
    return node


@dataclass(frozen=True)
class Parsed:
    """The object documents of a file, its problems, and whether the parse reached the end."""

    documents: list[Document]
    problems: list[Problem]
    complete: bool


def parse_documents(data: bytes, file: str, objects_only: bool = True) -> Parsed:
    """All object documents of a file, and a problem for each one that is not usable.

    With ``objects_only`` false (the file of a ``$yaml`` placeholder), a document may hold any
    value, not only a mapping.

    A syntax error costs the document it is in: it is reported, and the parse goes on at the
    next document (``---``), as Backstage's parser reads each document on its own, up to
    ``MAX_YAML_ERRORS`` errors. A document nested deeper than ``MAX_DEPTH`` stops the parse
    there. Either way ``complete`` is false, so callers keep what the file held before instead
    of dropping it.
    """
    if b"\x00" in data:
        return Parsed([], [Problem("error", "binary data: not a YAML text file", file)], False)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = Problem("error", f"not valid UTF-8 ({exc.reason})", file, line)
        return Parsed([], [problem], False)
    if text and not text.endswith("\n"):
        # A block scalar (`|`, `>`) ending the file keeps its line break, as Backstage's
        # parser reads it; libyaml would drop it when the file has no final newline.
        text += "\n"
    docs: list[Document] = []
    problems: list[Problem] = []
    complete = True
    offset = 0  # lines of the file before the part parsed now
    for errors in range(1, MAX_YAML_ERRORS + 2):
        part, resume = _parse_text(text, file, objects_only)
        docs += [Document(d.data, d.line + offset) for d in part.documents]
        problems += [_shifted(p, offset) for p in part.problems]
        complete = complete and part.complete
        if resume is None:
            break
        # ``resume`` is the 1-based line of the next document's ``---`` in ``text``.
        if errors == MAX_YAML_ERRORS:
            problems.append(
                Problem(
                    "error",
                    f"{MAX_YAML_ERRORS} YAML errors; the rest of the file is not read",
                    file,
                    offset + resume,
                )
            )
            break
        text = "\n".join(text.split("\n")[resume - 1 :])
        offset += resume - 1
    return Parsed(docs, problems, complete)


def _shifted(problem: Problem, lines: int) -> Problem:
    if not lines or problem.line is None:
        return problem
    return dataclasses.replace(problem, line=problem.line + lines)


_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)


def _next_document(text: str, error_line: int | None) -> int | None:
    """The 1-based line of the first ``---`` at or after ``error_line``, past line 1."""
    if error_line is None:
        return None
    pos = 0
    for _ in range(max(error_line, 2) - 1):  # to the start of that line (linear, once)
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return None
    match = _DOCUMENT_START.search(text, pos)
    if match is None:
        return None
    return text.count("\n", 0, match.start()) + 1


def _parse_text(text: str, file: str, objects_only: bool) -> tuple[Parsed, int | None]:
    """The documents of ``text`` up to its first syntax error, and where the parse may resume
    (the line of the next document after that error), or None."""
    docs: list[Document] = []
    problems: list[Problem] = []
    resume: int | None = None
    # Only files that use anchors, or that could nest deeper than allowed, pay for the walk
    # that checks alias expansion and depth.
    bound = _nesting_bound(text)
    guarded = "&" in text or bound > MAX_DEPTH

    def accept(value: Any, line: int) -> None:
        if value is None:
            return
        if objects_only and not isinstance(value, dict):
            problems.append(
                Problem("error", f"Expected object at root, got {type_name(value)}", file, line)
            )
            return
        docs.append(Document(value, line))

    if not guarded:
        loader = _Loader(text)
        try:
            direct: list[tuple[Any, int]] | None = _construct_direct(loader)
        except Exception:  # unusual, or broken: the full path below says exactly how
            direct = None
        finally:
            loader.dispose()
        if direct is not None:
            for value, line in direct:
                accept(value, line)
            return Parsed(docs, problems, True), None
    loader = _Loader(text)
    complete = False
    clean = True  # False: a document was skipped for a repeated key
    try:
        for node, line in _compose_flat(loader) if bound > SAFE_COMPOSE_DEPTH else _compose(loader):
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
                except _Recursive:
                    problems.append(
                        Problem(
                            "error",
                            "an alias refers to the node that contains it (a recursive "
                            "document); skipped",
                            file,
                            line,
                        )
                    )
                    continue
            try:
                value = loader.construct_document(node)
            except _DuplicateKey as exc:
                problems.append(
                    Problem(
                        "error",
                        f"duplicate key {exc.key!r} (map keys must be unique); document skipped",
                        file,
                        exc.line,
                    )
                )
                # As after a bad entity: the file keeps what it held before.
                clean = False
                loader.state_generators = []
                loader.constructed_objects = {}
                loader.recursive_objects = {}
                continue
            except (ValueError, TypeError, OverflowError) as exc:
                # A scalar the resolver took for a number PyYAML then cannot read (``0b_``):
                # this document only, like a repeated key.
                problems.append(
                    Problem(
                        "error",
                        f"a value cannot be read ({exc}); document skipped",
                        file,
                        line,
                    )
                )
                clean = False
                loader.state_generators = []
                loader.constructed_objects = {}
                loader.recursive_objects = {}
                continue
            accept(value, line)
        complete = clean
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = mark.line + 1 if mark is not None else None
        deep = _too_deep_line(text, at) if bound > MAX_DEPTH else None
        if deep is not None:
            # Newer libyaml builds refuse deep nesting in their scanner, which reads ahead of
            # the events that reach our own depth check: the same file, the same problem.
            problems.append(Problem("error", _TOO_DEEP, file, deep))
        else:
            reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
            problems.append(Problem("error", f"YAML error: {reason}", file, at))
            resume = _next_document(text, at)
    except yaml.YAMLError as exc:
        problems.append(Problem("error", f"YAML error: {exc}", file))
    except _TooDeep as exc:
        problems.append(Problem("error", _TOO_DEEP, file, exc.line))
    except RecursionError:
        problems.append(Problem("error", f"nesting deeper than {MAX_DEPTH} levels", file))
    finally:
        loader.dispose()
    problems.extend(
        Problem("warning", f"unresolved tag {tag}: ignored, the value is kept untagged", file, at)
        for tag, at in loader.unknown_tags
    )
    return Parsed(docs, problems, complete), resume


class _Unusual(Exception):
    """The file needs the full path (anchors, tags, odd keys, an error): parse it that way."""


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar -> its resolved tag (a few thousand words)


def _construct_direct(loader: _Loader) -> list[tuple[Any, int]]:
    """``(value, line)`` per document, built straight from libyaml's events.

    The common catalog file (no anchors, no tags, string keys) needs no node tree: this builds
    the same values ``_compose`` + ``construct_document`` would, with the loader's own resolver
    and constructors for every scalar that is not a plain string. Anything else raises
    ``_Unusual`` and the caller parses the file the full way, so the result never differs.
    Only for files whose nesting bound is within ``MAX_DEPTH``.
    """
    get = loader.get_event
    resolve: Any = loader.resolve
    constructors: Any = loader.yaml_constructors
    scalar_event, mapping_start, sequence_start = (
        yaml.ScalarEvent,
        yaml.MappingStartEvent,
        yaml.SequenceStartEvent,
    )
    collection_end = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    no_key = _PLAIN_TAGS  # any unique object marks "no key waiting"
    out: list[tuple[Any, int]] = []
    get()  # StreamStartEvent
    while not isinstance(get(), yaml.StreamEndEvent):  # DocumentStartEvent
        stack: list[Any] = []  # open collections, innermost last
        keys: list[Any] = []  # per open collection: the key waiting for its value
        root: Any = None
        line = 0
        while True:
            event: Any = get()
            kind = type(event)
            if kind is scalar_event:
                if event.anchor is not None:
                    raise _Unusual
                text = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    if event.implicit[0]:
                        tag = _PLAIN_TAGS.get(text)
                        if tag is None:
                            tag = resolve(yaml.ScalarNode, text, (True, False))
                            if len(text) <= 64 and len(_PLAIN_TAGS) < 50_000:
                                _PLAIN_TAGS[text] = tag  # short words repeat; texts do not
                    else:
                        tag = _STR
                else:
                    raise _Unusual
                if tag == _STR:
                    value: Any = text
                elif tag == _NULL:
                    value = None
                else:
                    construct = constructors.get(tag)
                    if construct is None:
                        raise _Unusual
                    node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark)
                    value = construct(loader, node)
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag not in (None, "!"):
                    raise _Unusual
                value = {} if kind is mapping_start else []
            elif kind in collection_end:
                stack.pop()
                keys.pop()
                continue
            elif kind is yaml.DocumentEndEvent:
                break
            else:  # an alias
                raise _Unusual
            if not stack:
                root, line = value, event.start_mark.line + 1
            else:
                top = stack[-1]
                if type(top) is list:
                    top.append(value)
                elif keys[-1] is no_key:
                    if type(value) in (dict, list) or value in top:
                        raise _Unusual  # a collection as key, or a repeated key
                    keys[-1] = value
                else:
                    top[keys[-1]] = value
                    keys[-1] = no_key
            if type(value) in (dict, list):
                stack.append(value)
                keys.append(no_key)
        out.append((root, line))
    return out


def _compose(loader: _Loader) -> Iterator[tuple[yaml.Node, int]]:
    """``(root node, line)`` per non-empty document, from libyaml's own (recursive) composer."""
    while loader.check_node():
        node = loader.get_node()
        if node is not None:
            yield node, node.start_mark.line + 1


def type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, as Backstage's messages say it."""
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

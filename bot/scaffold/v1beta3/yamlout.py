"""YAML written as Backstage's ``catalog:write`` writes it (the ``yaml`` package's defaults).

Two-space indentation, sequences indented under their key, plain scalars where they read back
as the same string, double quotes otherwise, block literals for multi-line text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\n]*")
_SPECIAL = re.compile(
    r"(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?(?:\d[\d_]*)?\.?\d+(?:[eE][-+]?\d+)?"
    r"|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|<<)\Z"
)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if (
        text
        and _PLAIN.fullmatch(text)
        and not _SPECIAL.match(text)
        and ": " not in text
        and " #" not in text
        and not text.endswith((" ", ":"))
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


LINE_WIDTH = 80
MIN_CONTENT_WIDTH = 20


def _fold(text: str, indent: int, at_start: int) -> str:
    """A long plain scalar folded onto lines of at most 80 columns, as the ``yaml`` package
    folds it (at a single space between two non-spaces; continuation lines at ``indent``)."""
    step = max(1 + MIN_CONTENT_WIDTH, 1 + LINE_WIDTH - indent)
    if len(text) <= step:
        return text
    folds: list[int] = []
    end = LINE_WIDTH - indent
    if at_start > LINE_WIDTH - max(2, MIN_CONTENT_WIDTH):
        folds.append(0)
    else:
        end = LINE_WIDTH - at_start
    split: int | None = None
    prev = ""
    for i, ch in enumerate(text):
        if ch == "\n":
            end = i + indent + step
            split = None
        else:
            if ch == " " and prev and prev not in " \n\t":
                nxt = text[i + 1] if i + 1 < len(text) else ""
                if nxt and nxt not in " \n\t":
                    split = i
            if i >= end and split:
                folds.append(split)
                end = split + step
                split = None
        prev = ch
    if not folds:
        return text
    pad = " " * indent
    out = text[: folds[0]] if folds[0] else ""
    for n, fold in enumerate(folds):
        stop = folds[n + 1] if n + 1 < len(folds) else len(text)
        if fold == 0:
            out = f"\n{pad}{text[:stop]}"
        else:
            out += f"\n{pad}{text[fold + 1 : stop]}"
    return out


def _block(text: str, indent: str) -> str:
    chomp = (
        ""
        if text.endswith("\n") and not text.endswith("\n\n")
        else ("-" if not text.endswith("\n") else "+")
    )
    body = text[:-1] if text.endswith("\n") else text
    lines = "\n".join(f"{indent}{line}" if line else "" for line in body.split("\n"))
    return f"|{chomp}\n{lines}"


def _node(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        for key, item in value.items():
            k = _scalar(str(key))
            if (isinstance(item, Mapping) and item) or (isinstance(item, list) and item):
                lines.append(f"{pad}{k}:")
                lines.extend(_node(item, indent + 2))
            elif isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}{k}: {_block(item, ' ' * (indent + 2))}")
            else:
                value = _inline(item)
                if isinstance(item, str) and value == item:  # plain: folded when long
                    value = _fold(value, indent + 2, indent + len(k) + 1)
                lines.append(f"{pad}{k}: {value}")
        return lines
    if isinstance(value, list):
        for item in value:
            if isinstance(item, (Mapping, list)) and item:
                sub = _node(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            elif isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}- {_block(item, ' ' * (indent + 2))}")
            else:
                value = _inline(item)
                if isinstance(item, str) and value == item:
                    value = _fold(value, indent + 2, indent + 1)
                lines.append(f"{pad}- {value}")
        return lines
    return [pad + _inline(value)]


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(doc: Any) -> str:
    """``yaml.stringify(doc)``."""
    if not isinstance(doc, (Mapping, list)) or not doc:
        return _inline(doc) + "\n"
    return "\n".join(_node(doc, 0)) + "\n"

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
                lines.append(f"{pad}{k}: {_inline(item)}")
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
                lines.append(f"{pad}- {_inline(item)}")
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

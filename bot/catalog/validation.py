"""Backstage's entity validation: every problem of one raw entity document, in Backstage's words.

Mirrors what the catalog applies on ingestion (``@backstage/catalog-model`` 1.10.1 and
``@backstage/plugin-scaffolder-common`` 2.3.0):

1. ``SchemaValidEntityPolicy``: the envelope and metadata types of ``Entity.schema.json`` and
   ``EntityMeta.schema.json``;
2. ``NoForeignRootFieldsEntityPolicy``: only ``apiVersion``, ``kind``, ``metadata`` and ``spec``
   at the root (``Unknown field relations``);
3. ``FieldFormatEntityPolicy`` with the default ``makeValidator()`` validators: kind, apiVersion,
   name, namespace, label and annotation keys and values, tags, links;
4. kind validation: the built-in kind schemas (selected by kind, apiVersion and, for API and
   AiResource, ``spec.type``). An unknown kind or a kind with a foreign apiVersion is reported as
   Backstage does: ``No processor recognized the entity ... as valid``.

Differences from Backstage, on purpose: every problem is collected instead of stopping at the
first; field paths are written ``metadata.tags[1]`` rather than ``tags.1``; the tag message
names ``[a-z0-9:+#]``, the characters the rule really allows (Backstage's text omits ``:``);
mapping keys that are not strings are reported (JavaScript would have turned them into strings);
link URLs are checked against a re-implementation of the WHATWG parser's acceptance rules
(``new URL(value)``; exotic internationalised host names are approximated); and a ``$text``,
``$json`` or ``$yaml`` placeholder that could not be resolved is accepted wherever a free-text
string is wanted (for example API ``spec.definition``), since Callboard keeps such entities with
a warning. Pure functions, standard library only, no I/O; the regexes and schemas are built once.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from encodings.idna import nameprep
from typing import Any, Final
from urllib.parse import unquote_to_bytes

__all__ = [
    "is_valid_namespace",
    "is_valid_object_name",
    "is_valid_tag",
    "validate_entity",
]

# --- Field format validators (catalog-model 1.10.1, makeValidator defaults) ---------------------

_KIND_RE: Final = re.compile(r"[a-zA-Z][a-z0-9A-Z]*")
_OBJECT_NAME_RE: Final = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_LABEL_RE: Final = re.compile(r"[a-z0-9]+(?:-+[a-z0-9]+)*")
_TAG_RE: Final = re.compile(r"[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*")
_API_VERSION_SUFFIX_RE: Final = re.compile(r"[a-z0-9A-Z]+")


def is_valid_object_name(s: str) -> bool:
    """Backstage's ``isValidObjectName`` (entity names, label values): 1-63 characters,
    ``[a-zA-Z0-9]`` runs separated by any of ``-_.``."""
    return isinstance(s, str) and 1 <= len(s) <= 63 and _OBJECT_NAME_RE.fullmatch(s) is not None


def is_valid_namespace(s: str) -> bool:
    """Backstage's ``isValidNamespace`` (a DNS label): 1-63 characters, ``[a-z0-9]`` runs
    separated by one or more ``-``."""
    return isinstance(s, str) and 1 <= len(s) <= 63 and _DNS_LABEL_RE.fullmatch(s) is not None


def is_valid_tag(s: str) -> bool:
    """Backstage's default ``isValidTag``: 1-63 characters, ``[a-z0-9:+#]`` runs separated by
    a single ``-``."""
    return isinstance(s, str) and 1 <= len(s) <= 63 and _TAG_RE.fullmatch(s) is not None


def _is_valid_kind(s: str) -> bool:
    return 1 <= len(s) <= 63 and _KIND_RE.fullmatch(s) is not None


def _is_valid_dns_subdomain(s: str) -> bool:
    return 1 <= len(s) <= 253 and all(is_valid_namespace(part) for part in s.split("."))


def _is_valid_api_version(s: str) -> bool:
    parts = s.split("/")
    suffix = parts[-1]
    if len(parts) > 2 or (len(parts) == 2 and not _is_valid_dns_subdomain(parts[0])):
        return False
    return 1 <= len(suffix) <= 63 and _API_VERSION_SUFFIX_RE.fullmatch(suffix) is not None


def _is_valid_key(s: str) -> bool:
    """``isValidLabelKey`` and ``isValidAnnotationKey``: ``[<dns-subdomain>/]<object-name>``."""
    parts = s.split("/")
    if len(parts) == 1:
        return is_valid_object_name(parts[0])
    return len(parts) == 2 and _is_valid_dns_subdomain(parts[0]) and is_valid_object_name(parts[1])


def _is_valid_label_value(s: str) -> bool:
    return s == "" or is_valid_object_name(s)


def _is_non_empty_string(s: str) -> bool:
    return s.strip() != ""


# --- URLs: whether the WHATWG URL parser (Node's ``new URL(value)``) accepts the value ---------

_SCHEME_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_SPECIAL_SCHEMES: Final = frozenset({"http", "https", "ws", "wss", "ftp"})
_AUTHORITY_END_SPECIAL_RE: Final = re.compile(r"[/\\?#]")
_AUTHORITY_END_RE: Final = re.compile(r"[/?#]")
_C0_OR_SPACE: Final = "".join(chr(i) for i in range(0x21))
_FORBIDDEN_HOST: Final = frozenset("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN: Final = _FORBIDDEN_HOST | frozenset(chr(i) for i in range(0x20)) | {"%", "\x7f"}
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_HEX_NUMBER_RE: Final = re.compile(r"0[xX][0-9A-Fa-f]*")
_OCTAL_NUMBER_RE: Final = re.compile(r"0[0-7]*")
_DRIVE_LETTER_RE: Final = re.compile(r"[A-Za-z][:|]")


def _ipv4_number(part: str) -> int | None:
    if _HEX_NUMBER_RE.fullmatch(part):
        return int(part[2:] or "0", 16)
    if part.startswith("0"):
        return int(part, 8) if _OCTAL_NUMBER_RE.fullmatch(part) else None
    return int(part) if _DIGITS_RE.fullmatch(part) else None


def _is_valid_ipv6(text: str) -> bool:
    if "%" in text:  # WHATWG has no zone ids; ipaddress would accept one
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


_IDNA_DOTS_RE: Final = re.compile("[.\u3002\uff0e\uff61]")


def _idna_map(host: str) -> str | None:
    """UTS #46 mapping of a non-ASCII host, approximated with IDNA 2003 nameprep."""
    labels = []
    for label in _IDNA_DOTS_RE.split(host):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            mapped = nameprep(label)
        except UnicodeError:
            return None
        if mapped and unicodedata.category(mapped[0]).startswith("M"):
            return None
        labels.append(mapped)
    return ".".join(labels)


def _is_valid_punycode(label: str) -> bool:
    if label[:4].lower() != "xn--":
        return True
    try:
        return label[4:].encode("ascii").decode("punycode") != ""
    except UnicodeError:
        return False


def _is_valid_domain(host: str) -> bool:
    """A special-scheme host: forbidden code points, then WHATWG's ends-in-a-number IPv4 rule."""
    if host.startswith("["):
        return host.endswith("]") and _is_valid_ipv6(host[1:-1])
    try:
        host = unquote_to_bytes(host).decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not host.isascii():
        mapped = _idna_map(host)
        if mapped is None:
            return False
        host = mapped
    if host == "" or any(c in _FORBIDDEN_DOMAIN for c in host):
        return False
    if "xn--" in host.lower() and not all(_is_valid_punycode(p) for p in host.split(".")):
        return False
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if not (_DIGITS_RE.fullmatch(last) or _HEX_NUMBER_RE.fullmatch(last)):
        return True
    if len(parts) > 4:
        return False
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return False
    values = [n for n in numbers if n is not None]
    return all(n <= 255 for n in values[:-1]) and values[-1] < 256 ** (5 - len(values))


def _is_valid_authority(authority: str, special: bool) -> bool:
    _, at, host_port = authority.rpartition("@")
    if at and host_port == "":
        return False
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0 or (end + 1 < len(host_port) and host_port[end + 1] != ":"):
            return False
        host, port = host_port[: end + 1], host_port[end + 2 :]
        has_port = end + 1 < len(host_port)
        if not _is_valid_ipv6(host[1:-1]):
            return False
    else:
        host, colon, port = host_port.partition(":")
        has_port = bool(colon)
        if has_port and host == "":
            return False
        if special:
            if not _is_valid_domain(host):
                return False
        elif any(c in _FORBIDDEN_HOST for c in host):
            return False
    return (
        not has_port
        or port == ""
        or (_DIGITS_RE.fullmatch(port) is not None and int(port) <= 65535)
    )


def _is_valid_url(value: str) -> bool:
    """An absolute URL with a scheme that WHATWG's parser accepts (close approximation)."""
    s = value.strip(_C0_OR_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME_RE.match(s)
    if match is None:
        return False
    scheme = match.group(1).lower()
    rest = s[match.end() :]
    if scheme in _SPECIAL_SCHEMES:
        rest = rest.lstrip("/\\")
        return _is_valid_authority(_AUTHORITY_END_SPECIAL_RE.split(rest, maxsplit=1)[0], True)
    if scheme == "file":
        if rest[:2] not in ("//", "\\\\", "/\\", "\\/"):
            return True
        host = _AUTHORITY_END_SPECIAL_RE.split(rest[2:], maxsplit=1)[0]
        return host == "" or _DRIVE_LETTER_RE.fullmatch(host) is not None or _is_valid_domain(host)
    if rest.startswith("//"):
        return _is_valid_authority(_AUTHORITY_END_RE.split(rest[2:], maxsplit=1)[0], False)
    return True


# --- Messages -----------------------------------------------------------------------------------

_EXPECT_OBJECT_NAME: Final = (
    "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], "
    "at most 63 characters in total"
)
_EXPECT_PREFIX_SUFFIX: Final = "a valid prefix and/or suffix"
_EXPECT_DNS_LABEL: Final = (
    "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total"
)
_EXPECT_TAG: Final = (
    "a string of sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total"
)
_EXPECT_KIND: Final = (
    "a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total"
)
_EXPECT_URL: Final = "a string that is a valid url"
_EXPECT_NON_EMPTY: Final = "a non empty string"


def _not_valid(path: str, expected: str, value: str) -> str:
    return f'"{path}" is not valid; expected {expected} but found "{value}"'


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def _wrong_type(path: str, expected: str, value: object) -> str:
    return f'"{path}" must be {expected}, found {_type_name(value)}'


_PLACEHOLDER_KEYS: Final = frozenset({"$text", "$json", "$yaml"})


def _is_placeholder(value: object) -> bool:
    """An unresolved ``{$text|$json|$yaml: ...}`` placeholder (exactly one key)."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _PLACEHOLDER_KEYS


# --- A small JSON-schema subset for the kind schemas --------------------------------------------


@dataclass(frozen=True)
class _Str:
    """``type: string`` with optional minLength, maxLength and enum; placeholders pass."""

    min_len: int = 0
    max_len: int | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class _StrOrBool:
    """``type: [string, boolean]`` (the Template ``if`` fields)."""


@dataclass(frozen=True)
class _Arr:
    items: _Node | None = None
    min_items: int = 0


@dataclass(frozen=True)
class _Obj:
    props: Mapping[str, _Node] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    extra: _Node | None = None
    """Schema for keys not in ``props`` (``additionalProperties``); None allows anything."""


@dataclass(frozen=True)
class _ObjOrArr:
    """``oneOf: [object, array of objects]`` (the Template ``parameters``)."""

    obj: _Obj
    arr: _Arr


_Node = _Str | _StrOrBool | _Arr | _Obj | _ObjOrArr


def _check(node: _Node, value: Any, path: str, who: str, out: list[str]) -> None:
    """Append every way ``value`` at ``path`` breaks ``node``; ``who`` ends "is required" texts."""
    if isinstance(node, _Str):
        if not isinstance(value, str):
            if not _is_placeholder(value):
                out.append(_wrong_type(path, "a string", value))
        elif node.enum and value not in node.enum:
            allowed = ", ".join(f'"{e}"' for e in node.enum)
            out.append(f'"{path}" must be one of {allowed}, found "{value}"')
        elif len(value) < node.min_len:
            out.append(f'"{path}" must not be empty')
        elif node.max_len is not None and len(value) > node.max_len:
            out.append(f'"{path}" must be at most {node.max_len} characters, found {len(value)}')
    elif isinstance(node, _Obj):
        if not isinstance(value, Mapping):
            out.append(_wrong_type(path, "an object", value))
            return
        for name in node.required:
            if name not in value:
                out.append(f'"{path}.{name}" is required {who}')
        for key, item in value.items():
            sub = node.props.get(key, node.extra) if isinstance(key, str) else node.extra
            if sub is not None:
                _check(sub, item, f"{path}.{key}", who, out)
    elif isinstance(node, _Arr):
        if not isinstance(value, list):
            out.append(_wrong_type(path, "an array", value))
            return
        if len(value) < node.min_items:
            plural = "" if node.min_items == 1 else "s"
            out.append(f'"{path}" must have at least {node.min_items} item{plural}')
        if node.items is not None:
            for i, item in enumerate(value):
                _check(node.items, item, f"{path}[{i}]", who, out)
    elif isinstance(node, _StrOrBool):
        if not isinstance(value, str | bool) and not _is_placeholder(value):
            out.append(_wrong_type(path, "a string or a boolean", value))
    elif isinstance(value, Mapping):
        _check(node.obj, value, path, who, out)
    elif isinstance(value, list):
        _check(node.arr, value, path, who, out)
    else:
        out.append(_wrong_type(path, "an object or an array", value))


_S: Final = _Str(min_len=1)
_S_ANY: Final = _Str()
_S_LIST: Final = _Arr(_S)
_PROFILE: Final = _Obj({"displayName": _S, "email": _S, "picture": _S})
_OWNED: Final = {"type": _S, "lifecycle": _S, "owner": _S, "system": _S}

_COMPONENT: Final = _Obj(
    {
        **_OWNED,
        "subcomponentOf": _S,
        "providesApis": _S_LIST,
        "consumesApis": _S_LIST,
        "dependsOn": _S_LIST,
    },
    required=("type", "lifecycle", "owner"),
)
_API: Final = _Obj({**_OWNED, "definition": _S}, ("type", "lifecycle", "owner", "definition"))
_API_MCP_SERVER: Final = _Obj(
    {
        **_OWNED,
        "type": _Str(enum=("mcp-server",)),
        "remotes": _Arr(_Obj({"type": _S, "url": _S}, ("type", "url")), min_items=1),
    },
    required=("type", "lifecycle", "owner", "remotes"),
)
_RESOURCE: Final = _Obj(
    {"type": _S, "owner": _S, "dependsOn": _S_LIST, "system": _S}, ("type", "owner")
)
_SYSTEM: Final = _Obj({"owner": _S, "domain": _S, "type": _S}, ("owner",))
_DOMAIN: Final = _Obj({"owner": _S, "subdomainOf": _S, "type": _S}, ("owner",))
_GROUP: Final = _Obj(
    {"type": _S, "profile": _PROFILE, "parent": _S, "children": _S_LIST, "members": _S_LIST},
    ("type", "children"),
)
_USER: Final = _Obj({"profile": _PROFILE, "memberOf": _S_LIST}, ("memberOf",))
_LOCATION: Final = _Obj(
    {"type": _S, "target": _S, "targets": _S_LIST, "presence": _Str(enum=("required", "optional"))}
)
_AI_RESOURCE_REQUIRED: Final = ("type", "lifecycle", "owner")
_AI_RESOURCE: Final = _Obj(_OWNED, _AI_RESOURCE_REQUIRED)
_AI_RESOURCE_TYPES: Final[Mapping[str, _Obj]] = {
    "skill": _Obj(
        {
            **_OWNED,
            "type": _Str(enum=("skill",)),
            "disciplines": _S_LIST,
            "categories": _S_LIST,
            "agents": _S_LIST,
            "dependsOn": _S_LIST,
            "allowedTools": _S,
            "license": _S,
            "compatibility": _Str(min_len=1, max_len=500),
        },
        _AI_RESOURCE_REQUIRED,
    ),
    "rule": _Obj(
        {
            **_OWNED,
            "type": _Str(enum=("rule",)),
            "disciplines": _S_LIST,
            "category": _S,
            "rationale": _S,
        },
        (*_AI_RESOURCE_REQUIRED, "category", "rationale"),
    ),
    "plugin": _Obj(
        {**_OWNED, "type": _Str(enum=("plugin",)), "skills": _S_LIST, "version": _S},
        (*_AI_RESOURCE_REQUIRED, "skills"),
    ),
    "marketplace": _Obj(
        {**_OWNED, "type": _Str(enum=("marketplace",)), "plugins": _S_LIST, "version": _S},
        (*_AI_RESOURCE_REQUIRED, "plugins"),
    ),
}

_PERMISSIONS: Final = _Obj({"tags": _Arr(_S_ANY)})
_PARAMETER_PAGE: Final = _Obj({"backstage:permissions": _PERMISSIONS})
_FORM_DECORATORS: Final = _Arr(_Obj({"id": _S_ANY, "input": _Obj()}))
_TEMPLATE: Final = _Obj(
    {
        "type": _S,
        "owner": _S,
        "lifecycle": _S,
        "parameters": _ObjOrArr(_PARAMETER_PAGE, _Arr(_PARAMETER_PAGE)),
        "secrets": _Obj({"schema": _Obj()}),
        "presentation": _Obj(
            {
                "buttonLabels": _Obj(
                    {
                        "backButtonText": _S_ANY,
                        "createButtonText": _S_ANY,
                        "reviewButtonText": _S_ANY,
                    }
                )
            }
        ),
        "EXPERIMENTAL_recovery": _Obj({"EXPERIMENTAL_strategy": _S_ANY}),
        "formDecorators": _FORM_DECORATORS,
        "EXPERIMENTAL_formDecorators": _FORM_DECORATORS,
        "steps": _Arr(
            _Obj(
                {
                    "id": _S_ANY,
                    "name": _S_ANY,
                    "action": _S_ANY,
                    "input": _Obj(),
                    "if": _StrOrBool(),
                    "backstage:permissions": _PERMISSIONS,
                },
                ("action",),
            )
        ),
        "output": _Obj(
            {
                "links": _Arr(
                    _Obj(
                        {
                            "if": _StrOrBool(),
                            "url": _S,
                            "entityRef": _S,
                            "title": _S,
                            "icon": _S,
                        }
                    )
                ),
                "text": _Arr(
                    _Obj({"if": _StrOrBool(), "title": _S, "icon": _S, "content": _S_ANY})
                ),
            },
            extra=_S_ANY,
        ),
    },
    required=("type", "steps"),
)

_BACKSTAGE_VERSIONS: Final = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
_KIND_VERSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "Component": _BACKSTAGE_VERSIONS,
    "API": _BACKSTAGE_VERSIONS,
    "Resource": _BACKSTAGE_VERSIONS,
    "System": _BACKSTAGE_VERSIONS,
    "Domain": _BACKSTAGE_VERSIONS,
    "Group": _BACKSTAGE_VERSIONS,
    "User": _BACKSTAGE_VERSIONS,
    "Location": _BACKSTAGE_VERSIONS,
    "AiResource": ("backstage.io/v1alpha1",),
    "Template": ("scaffolder.backstage.io/v1beta3",),
}
_KIND_SPECS: Final[Mapping[str, _Obj]] = {
    "Component": _COMPONENT,
    "API": _API,
    "Resource": _RESOURCE,
    "System": _SYSTEM,
    "Domain": _DOMAIN,
    "Group": _GROUP,
    "User": _USER,
    "Location": _LOCATION,
    "AiResource": _AI_RESOURCE,
    "Template": _TEMPLATE,
}


def _spec_schema(kind: str, spec: Any) -> tuple[_Obj, str]:
    """The spec schema of a known kind, and the words that end its "is required" messages."""
    spec_type = spec.get("type") if isinstance(spec, Mapping) else None
    if kind == "API" and spec_type == "mcp-server":
        return _API_MCP_SERVER, "for kind API of type mcp-server"
    if kind == "AiResource" and isinstance(spec_type, str) and spec_type in _AI_RESOURCE_TYPES:
        return _AI_RESOURCE_TYPES[spec_type], f"for kind AiResource of type {spec_type}"
    return _KIND_SPECS[kind], f"for kind {kind}"


# --- The envelope and metadata ------------------------------------------------------------------

_ROOT_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata", "spec"})
_MISSING: Final = object()


def _check_string_map(value: Any, path: str, out: list[str], *, is_annotations: bool) -> None:
    """``metadata.labels`` or ``metadata.annotations``: keys, value types and label values."""
    if not isinstance(value, Mapping):
        out.append(_wrong_type(path, "an object", value))
        return
    for key, item in value.items():
        item_path = f"{path}.{key}"
        if not isinstance(key, str):
            out.append(f'"{item_path}" key must be a string, found {_type_name(key)}')
        elif not _is_valid_key(key):
            out.append(_not_valid(item_path, _EXPECT_PREFIX_SUFFIX, key))
        if not isinstance(item, str):
            if not (is_annotations and _is_placeholder(item)):
                out.append(_wrong_type(item_path, "a string", item))
        elif not is_annotations and not _is_valid_label_value(item):
            out.append(_not_valid(item_path, _EXPECT_OBJECT_NAME, item))


def _check_links(value: Any, out: list[str]) -> None:
    if not isinstance(value, list):
        out.append(_wrong_type("metadata.links", "an array", value))
        return
    for i, link in enumerate(value):
        path = f"metadata.links[{i}]"
        if not isinstance(link, Mapping):
            out.append(_wrong_type(path, "an object", link))
            continue
        url = link.get("url", _MISSING)
        if url is _MISSING:
            out.append(f'"{path}.url" is required')
        elif not isinstance(url, str):
            out.append(_wrong_type(f"{path}.url", "a string", url))
        elif not _is_valid_url(url):
            out.append(_not_valid(f"{path}.url", _EXPECT_URL, url))
        for name in ("title", "icon"):
            text = link.get(name, _MISSING)
            if text is _MISSING:
                continue
            if not isinstance(text, str):
                out.append(_wrong_type(f"{path}.{name}", "a string", text))
            elif not _is_non_empty_string(text):
                out.append(_not_valid(f"{path}.{name}", _EXPECT_NON_EMPTY, text))
        if "type" in link:
            _check(_S, link["type"], f"{path}.type", "", out)


def _check_metadata(meta: Any, out: list[str]) -> None:
    if not isinstance(meta, Mapping):
        out.append(_wrong_type("metadata", "an object", meta))
        return
    name = meta.get("name", _MISSING)
    if name is _MISSING:
        out.append('"metadata.name" is required')
    elif not isinstance(name, str):
        out.append(_wrong_type("metadata.name", "a string", name))
    elif not is_valid_object_name(name):
        out.append(_not_valid("metadata.name", _EXPECT_OBJECT_NAME, name))

    if "namespace" in meta:
        namespace = meta["namespace"]
        if not isinstance(namespace, str):
            out.append(_wrong_type("metadata.namespace", "a string", namespace))
        elif not is_valid_namespace(namespace):
            out.append(_not_valid("metadata.namespace", _EXPECT_DNS_LABEL, namespace))

    for name_ in ("uid", "etag", "title"):
        if name_ in meta:
            _check(_S, meta[name_], f"metadata.{name_}", "", out)
    if "description" in meta:
        _check(_S_ANY, meta["description"], "metadata.description", "", out)
    if "labels" in meta:
        _check_string_map(meta["labels"], "metadata.labels", out, is_annotations=False)
    if "annotations" in meta:
        _check_string_map(meta["annotations"], "metadata.annotations", out, is_annotations=True)

    if "tags" in meta:
        tags = meta["tags"]
        if not isinstance(tags, list):
            out.append(_wrong_type("metadata.tags", "an array", tags))
        else:
            for i, tag in enumerate(tags):
                if not isinstance(tag, str):
                    out.append(_wrong_type(f"metadata.tags[{i}]", "a string", tag))
                elif not is_valid_tag(tag):
                    out.append(_not_valid(f"metadata.tags[{i}]", _EXPECT_TAG, tag))

    if "links" in meta:
        _check_links(meta["links"], out)


def _entity_ref(kind: str, meta: Any) -> str:
    """``kind:namespace/name``, lower-cased, for the "No processor" message."""
    name: Any = meta.get("name") if isinstance(meta, Mapping) else None
    namespace: Any = meta.get("namespace") if isinstance(meta, Mapping) else None
    if not isinstance(namespace, str) or not namespace:
        namespace = "default"
    return f"{kind}:{namespace}/{name if isinstance(name, str) else ''}".lower()


def validate_entity(doc: Mapping[str, Any]) -> list[str]:
    """Every problem with one raw entity document (as parsed from YAML), Backstage's rules; []
    when valid."""
    if not isinstance(doc, Mapping):
        return [f"Entity must be an object, found {_type_name(doc)}"]
    out: list[str] = []

    for key in doc:
        if key not in _ROOT_FIELDS:
            out.append(f"Unknown field {key}")

    api_version = doc.get("apiVersion", _MISSING)
    if api_version is _MISSING:
        out.append('"apiVersion" is required')
    elif not isinstance(api_version, str):
        out.append(_wrong_type("apiVersion", "a string", api_version))
    elif not _is_valid_api_version(api_version):
        out.append(_not_valid("apiVersion", _EXPECT_PREFIX_SUFFIX, api_version))

    kind = doc.get("kind", _MISSING)
    if kind is _MISSING:
        out.append('"kind" is required')
    elif not isinstance(kind, str):
        out.append(_wrong_type("kind", "a string", kind))
    elif not _is_valid_kind(kind):
        out.append(_not_valid("kind", _EXPECT_KIND, kind))

    meta = doc.get("metadata", _MISSING)
    if meta is _MISSING:
        out.append('"metadata" is required')
    else:
        _check_metadata(meta, out)

    spec = doc.get("spec", _MISSING)
    if spec is not _MISSING and not isinstance(spec, Mapping):
        out.append(_wrong_type("spec", "an object", spec))

    if isinstance(kind, str) and isinstance(api_version, str):
        if api_version not in _KIND_VERSIONS.get(kind, ()):
            out.append(
                f"No processor recognized the entity {_entity_ref(kind, meta)} as valid, "
                "possibly caused by a foreign kind or apiVersion"
            )
        elif spec is _MISSING:
            out.append(f'"spec" is required {_spec_schema(kind, None)[1]}')
        elif isinstance(spec, Mapping):
            schema, who = _spec_schema(kind, spec)
            _check(schema, spec, "spec", who, out)
    return out

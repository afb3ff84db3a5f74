"""``${{ }}`` expressions and skeleton files, rendered as Backstage renders them.

Backstage renders templates with Nunjucks (through its ``nunjitsu`` subset since scaffolder
backend 4.x). Callboard renders them with Jinja's ``ImmutableSandboxedEnvironment`` configured
to behave like Nunjucks wherever the two differ in ways templates meet:

- delimiters ``${{ }}`` (``{{ }}`` with ``cookiecutterCompat``), ``{% %}`` and ``{# #}``; the
  trailing newline kept; undefined values render empty and chain (``a.b.c`` of nothing);
- values print as JavaScript prints them: ``true``, ``a,b`` for a list, ``[object Object]``,
  ``3`` for 3.0, nothing for null;
- JavaScript truthiness inside templates (an empty list or object is true), ``===``/``!==``,
  ``+`` joining a string with anything, and the string/list members templates use
  (``name.length``, ``toUpperCase()``, ``split('/')``, ``includes(x)``...);
- a mapping's keys shadow its Python methods (``values.items`` is the key ``items``);
- the filters Backstage adds (``parseRepoUrl``, ``parseEntityRef``, ``pick``,
  ``projectSlug``) and the Nunjucks builtins whose Jinja namesakes differ (``dump``, ``round``,
  ``title``, ``indent``, ``truncate``, ``list``, ``string``, ``nl2br``, ``jsonify``).

A step input is rendered leaf by leaf (``render_tree``): a string that is one sole
interpolation keeps its type (``${{ parameters.tags }}`` stays a list), an undefined one drops
its key, and a string whose rendering fails is kept as written (Backstage's behaviour, logged).
Only the standard library and jinja2 are imported: this runs in the render child.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

# Hosts Backstage knows without configuration (ScmIntegrations' defaults), by integration type.
DEFAULT_INTEGRATIONS: Mapping[str, str] = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azure",
}
MAX_OUTPUT = 20 * 2**20  # characters one render may produce


class ExpressionError(Exception):
    """A template expression failed; the message says where and why."""


class JsUndefined(ChainableUndefined):
    """Nunjucks' ``undefined``: prints nothing, is false, and member access chains."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""


class JsList(list[Any]):
    """A list that is true when empty, as every JavaScript array is."""

    def __bool__(self) -> bool:
        return True


class JsDict(dict[str, Any]):
    """An object that is true when empty, as every JavaScript object is."""

    def __bool__(self) -> bool:
        return True


def to_js(value: Any) -> Any:
    """JSON data as the template sees it (lists and objects with JavaScript truthiness)."""
    if isinstance(value, Mapping):
        return JsDict((str(k), to_js(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return JsList(to_js(v) for v in value)
    return value


def to_plain(value: Any, *, in_list: bool = False) -> Any:
    """Template data back to plain JSON data; undefined becomes None in lists (dropped in
    objects by the caller), as ``JSON.stringify`` does."""
    if isinstance(value, JsUndefined) or value is _DROP:
        return None if in_list else _DROP
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            item = to_plain(v)
            if item is not _DROP:
                out[str(k)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(v, in_list=True) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value if not isinstance(value, str) else str(value)
    return js_str(value)


_DROP = object()


def js_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def js_str(value: Any) -> str:
    """``String(value)`` as JavaScript writes it; nothing for null and undefined."""
    if value is None or isinstance(value, JsUndefined):
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, (list, tuple)):
        return ",".join(js_str(v) for v in value)
    return str(value)


def js_json(value: Any, indent: Any = None) -> str:
    """``JSON.stringify(value, null, indent)``."""
    plain = to_plain(value)
    if plain is _DROP:
        return ""
    if isinstance(indent, str) and indent:
        return json.dumps(plain, ensure_ascii=False, indent=indent[:10])
    if isinstance(indent, (int, float)) and not isinstance(indent, bool) and indent >= 1:
        return json.dumps(plain, ensure_ascii=False, indent=min(int(indent), 10))
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def is_truthy(value: Any) -> bool:
    """Backstage's ``isTruthy`` for a step's ``if:``: an empty list is false, an object true."""
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, Mapping):
        return True
    if isinstance(value, JsUndefined):
        return False
    return bool(value)


# ----------------------------------------------------------------------------- Backstage filters


def parse_repo_url(url: Any, integrations: Mapping[str, str]) -> dict[str, str]:
    """``parseRepoUrl``: ``github.com?owner=o&repo=r`` → ``{host, owner, repo, ...}``."""
    text = js_str(url)
    try:
        parts = urlsplit(f"https://{text}")
        host = parts.netloc.rsplit("@", 1)[-1].lower()
    except ValueError as exc:
        raise ExpressionError(f"Invalid repo URL passed to publisher, got {text}, {exc}") from None
    kind = integrations.get(host)
    if kind is None:
        raise ExpressionError(
            f"No matching integration configuration for host {host}, please check your "
            "integrations config"
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    found = {
        k: query[k][0].strip("/")
        for k in ("owner", "organization", "workspace", "project", "repo")
        if k in query
    }

    def need(*names: str) -> None:
        for name in names:
            if not query.get(name, [""])[0]:
                raise ExpressionError(
                    f"Invalid repo URL passed to publisher: https://{text}, missing {name}"
                )

    if kind == "bitbucketCloud":
        need("workspace", "project", "repo")
    elif kind in ("bitbucketServer", "azure"):
        need("project", "repo")
    elif kind == "gitlab":
        if not found.get("project"):
            need("owner", "repo")
    elif kind in ("gitea", "gerrit"):
        need("repo")
    else:
        need("repo", "owner")
    out = {"host": host}
    for key in ("owner", "repo", "organization", "workspace", "project"):
        if key in found:
            out[key] = found[key]
    return out


def parse_entity_ref(ref: Any, context: Any = None) -> dict[str, str]:
    """``parseEntityRef`` (catalog-model): ``[kind:][namespace/]name``; kind is required unless
    ``defaultKind`` is given; case is kept."""
    ctx = context if isinstance(context, Mapping) else {}
    default_kind = ctx.get("defaultKind") or None
    default_ns = ctx.get("defaultNamespace") or "default"
    if not ref or isinstance(ref, JsUndefined):
        raise ExpressionError("Entity reference must not be empty")
    if isinstance(ref, Mapping):
        kind = ref.get("kind") or default_kind
        namespace = ref.get("namespace") or default_ns
        name = ref.get("name")
        shown = js_json(ref)
    else:
        text = js_str(ref)
        colon, slash = text.find(":"), text.find("/")
        if slash != -1 and slash < colon:
            colon = -1
        k = None if colon == -1 else text[:colon]
        ns = None if slash == -1 else text[colon + 1 : slash]
        name = text[max(colon + 1, slash + 1) :]
        if k == "" or ns == "" or name == "":
            raise ExpressionError(
                f'Entity reference "{text}" was not on the form [<kind>:][<namespace>/]<name>'
            )
        kind = k if k is not None else default_kind
        namespace = ns if ns is not None else default_ns
        shown = json.dumps(text)
    if not kind:
        raise ExpressionError(
            f"Entity reference {shown} had missing or empty kind (e.g. did not start with "
            '"component:" or similar)'
        )
    if not name:
        raise ExpressionError(f"Entity reference {shown} had missing or empty name")
    return {"kind": str(kind), "namespace": str(namespace), "name": str(name)}


_PATH_PART = re.compile(r"[^.\[\]]+|\[(?:(\d+)|[\"']([^\"']*)[\"'])\]")


def pick(value: Any, path: Any) -> Any:
    """``pick`` (lodash ``get``): ``obj | pick('metadata.name')``."""
    current = value
    for match in _PATH_PART.finditer(js_str(path)):
        key = match.group(1) or match.group(2) or match.group(0)
        if isinstance(current, Mapping):
            current = current.get(key, JsUndefined())
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        elif isinstance(current, str) and key == "length":
            current = len(current)
        else:
            return JsUndefined()
    return current


def project_slug(url: Any, integrations: Mapping[str, str]) -> str:
    parsed = parse_repo_url(url, integrations)
    return f"{parsed.get('owner', 'undefined')}/{parsed.get('repo', 'undefined')}"


# ----------------------------------------------------------------------------- Nunjucks builtins


def _dump(value: Any, spaces: Any = None) -> str:
    return js_json(value, spaces)


def _round(value: Any, precision: Any = 0, method: str = "common") -> float:
    number = float(value) if not isinstance(value, JsUndefined) else math.nan
    factor = float(10 ** int(precision or 0))
    if method == "ceil":
        return float(math.ceil(number * factor) / factor)
    if method == "floor":
        return float(math.floor(number * factor) / factor)
    return float(math.floor(number * factor + 0.5) / factor)


def _title(value: Any) -> str:
    return " ".join(_capitalize(w) for w in js_str(value).split(" "))


def _capitalize(value: Any) -> str:
    text = js_str(value).lower()
    return text[:1].upper() + text[1:]


def _indent(value: Any, width: Any = 4, first: Any = False) -> str:
    text = js_str(value)
    if not text:
        return ""
    pad = " " * int(width) if not isinstance(width, str) else width
    lines = text.split("\n")
    return "\n".join(line if i == 0 and not first else pad + line for i, line in enumerate(lines))


def _truncate(value: Any, length: Any = 255, killwords: Any = False, end: Any = "...") -> str:
    text = js_str(value)
    length = int(length)
    if len(text) <= length:
        return text
    if killwords:
        cut = text[:length]
    else:
        idx = text.rfind(" ", 0, length + 1)
        cut = text[: idx if idx != -1 else length]
    return cut + ("..." if end is None or isinstance(end, JsUndefined) else js_str(end))


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return JsList(value)
    if isinstance(value, Mapping):
        return JsList(JsDict(key=k, value=v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return JsList(value)
    raise ExpressionError("list filter: type not iterable")


def _nl2br(value: Any) -> str:
    return re.sub(r"\r\n|\n", "<br />\n", js_str(value))


def _length(value: Any) -> int:
    if isinstance(value, JsUndefined) or value is None:
        return 0
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value)
    return 0


def _default(value: Any, default: Any = "", boolean: Any = False) -> Any:
    if boolean:
        return value if value else default
    return default if isinstance(value, JsUndefined) else value


# ----------------------------------------------------------------------------- JS members


def _js_split(text: str) -> Callable[..., list[str]]:
    def split(sep: Any = None, limit: Any = None) -> list[str]:
        if sep is None or isinstance(sep, JsUndefined):
            parts = [text]
        elif sep == "":
            parts = list(text)
        else:
            parts = text.split(js_str(sep))
        if limit is not None and not isinstance(limit, JsUndefined):
            parts = parts[: max(int(limit), 0)]
        return JsList(parts)

    return split


def _js_slice(seq: Any) -> Callable[..., Any]:
    def slice_(start: Any = 0, end: Any = None) -> Any:
        s = int(start or 0)
        e = None if end is None or isinstance(end, JsUndefined) else int(end)
        out = seq[s:e]
        return JsList(out) if isinstance(seq, list) else out

    return slice_


def _string_member(text: str, name: str) -> Any:
    members: dict[str, Any] = {
        "length": len(text),
        "toUpperCase": lambda: text.upper(),
        "toLowerCase": lambda: text.lower(),
        "trim": lambda: text.strip(),
        "trimStart": lambda: text.lstrip(),
        "trimEnd": lambda: text.rstrip(),
        "split": _js_split(text),
        "replace": lambda a, b: text.replace(js_str(a), js_str(b), 1),
        "replaceAll": lambda a, b: text.replace(js_str(a), js_str(b)),
        "startsWith": lambda s: text.startswith(js_str(s)),
        "endsWith": lambda s: text.endswith(js_str(s)),
        "includes": lambda s: js_str(s) in text,
        "indexOf": lambda s: text.find(js_str(s)),
        "lastIndexOf": lambda s: text.rfind(js_str(s)),
        "charAt": lambda i: text[int(i)] if 0 <= int(i) < len(text) else "",
        "substring": lambda a, b=None: text[
            max(int(a), 0) : (None if b is None else max(int(b), 0))
        ],
        "slice": _js_slice(text),
        "padStart": lambda n, c=" ": text.rjust(int(n), js_str(c)[:1] or " "),
        "padEnd": lambda n, c=" ": text.ljust(int(n), js_str(c)[:1] or " "),
        "concat": lambda *more: text + "".join(js_str(m) for m in more),
        "repeat": lambda n: text * min(int(n), MAX_OUTPUT // max(len(text), 1)),
    }
    return members.get(name, _MISSING)


def _list_member(items: list[Any], name: str) -> Any:
    members: dict[str, Any] = {
        "length": len(items),
        "includes": lambda x: x in items,
        "indexOf": lambda x: items.index(x) if x in items else -1,
        "join": lambda sep=",": js_str(sep).join(js_str(i) for i in items),
        "slice": _js_slice(items),
        "concat": lambda *more: JsList(
            [*items, *(x for m in more for x in (m if isinstance(m, list) else [m]))]
        ),
    }
    return members.get(name, _MISSING)


_MISSING = object()
_COMPAT_DICT_METHODS = ("items", "keys", "values", "get")


class NunjucksEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with Nunjucks' member lookup and ``+``."""

    intercepted_binops = frozenset(["+"])
    compat = False

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and not isinstance(obj, Namespace):
            if attribute in obj:
                return obj[attribute]
            if self.compat and attribute in _COMPAT_DICT_METHODS:
                return super().getattr(obj, attribute)
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, str):
            member = _string_member(obj, attribute)
            if member is not _MISSING:
                return member
        elif isinstance(obj, list):
            member = _list_member(obj, attribute)
            if member is not _MISSING:
                return member
        if not self.compat and isinstance(obj, (str, list, int, float)):
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and not isinstance(argument, slice):
            key = js_str(argument) if not isinstance(argument, str) else argument
            if key in obj:
                return obj[key]
            return self.undefined(obj=obj, name=key)
        if isinstance(obj, str) and argument == "length":
            return len(obj)
        if isinstance(obj, list) and isinstance(argument, str):
            if argument == "length":
                return len(obj)
            if argument.isdigit():
                argument = int(argument)
        if isinstance(obj, (list, str)) and isinstance(argument, int) and argument < 0:
            return self.undefined(obj=obj, name=str(argument))  # JS has no negative index
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and (
            isinstance(left, (str, list, Mapping)) or isinstance(right, (str, list, Mapping))
        ):
            return _concat_str(left) + _concat_str(right)
        return super().call_binop(context, operator, left, right)


def _concat_str(value: Any) -> str:
    """``String(value)`` as ``+`` uses it: unlike printing, undefined and null are spelled out."""
    if isinstance(value, JsUndefined):
        return "undefined"
    if value is None:
        return "null"
    return js_str(value)


def _finalize(value: Any) -> str:
    return js_str(value)


def environment(
    *,
    compat: bool = False,
    integrations: Mapping[str, str] | None = None,
    trim_blocks: bool = False,
    lstrip_blocks: bool = False,
) -> NunjucksEnvironment:
    """An environment that renders like Backstage's templater (``compat``: ``{{ }}`` and
    ``jsonify``, as ``cookiecutterCompat`` does)."""
    hosts = dict(DEFAULT_INTEGRATIONS)
    hosts.update(integrations or {})
    env = NunjucksEnvironment(
        variable_start_string="{{" if compat else "${{",
        variable_end_string="}}",
        undefined=JsUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        autoescape=False,
    )
    env.compat = compat
    env.filters.update(
        {
            "dump": _dump,
            "round": _round,
            "title": _title,
            "capitalize": _capitalize,
            "indent": _indent,
            "truncate": _truncate,
            "list": _list,
            "string": js_str,
            "nl2br": _nl2br,
            "length": _length,
            "default": _default,
            "d": _default,
            "parseRepoUrl": lambda url: parse_repo_url(url, hosts),
            "parseEntityRef": parse_entity_ref,
            "pick": pick,
            "projectSlug": lambda url: project_slug(url, hosts),
        }
    )
    if compat:
        env.filters["jsonify"] = _dump
    return env


# ----------------------------------------------------------------------------- rendering

_TAG = re.compile(r"(\$?\{\{|\{%)(.*?)(\}\}|%\})", re.S)
# String literals (kept), ``===``/``!==``, and a bare key in an object literal (``{ a: 1 }``).
_JS_SYNTAX = re.compile(
    r"(?P<s>(['\"])(?:\\.|(?!\2).)*\2)|(?P<op>!==|===)"
    r"|(?P<lead>[{,]\s*)(?P<key>[A-Za-z_$][\w$]*)(?P<colon>\s*:)",
    re.S,
)


def _strict_equality(source: str) -> str:
    """``===``/``!==`` inside tags become Jinja's ``==``/``!=`` (string literals untouched)."""
    if "==" not in source and ":" not in source:
        return source

    def in_tag(match: re.Match[str]) -> str:
        return match.group(1) + _strict_expression(match.group(2)) + match.group(3)

    return _TAG.sub(in_tag, source)


def _strict_expression(text: str) -> str:
    """Nunjucks syntax Jinja lacks, in one expression: ``===``/``!==`` and bare object keys."""

    def fix(m: re.Match[str]) -> str:
        if m.group("s"):
            return m.group(0)
        if m.group("op"):
            return m.group("op")[:-1]
        return f"{m.group('lead')}'{m.group('key')}'{m.group('colon')}"

    return _JS_SYNTAX.sub(fix, text)


def _context(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_js(v) for k, v in values.items()}


def render_string(env: NunjucksEnvironment, source: str, values: Mapping[str, Any]) -> str:
    """``source`` rendered with ``values``; ``ExpressionError`` when it cannot be."""
    if not any(
        start in source
        for start in (env.variable_start_string, env.block_start_string, env.comment_start_string)
    ):
        return source  # nothing to render: the bytes stay as they are
    if env.block_start_string not in source and env.comment_start_string not in source:
        fast = _interpolate(env, source, values)
        if fast is not None:
            return fast
    if "\r\n" in source:
        # Jinja writes its own newline into template text; Nunjucks keeps the file's.
        env = env.overlay(newline_sequence="\r\n")
    try:
        out = env.from_string(_strict_equality(source)).render(_context(values))
    except ExpressionError:
        raise
    except (TemplateError, TypeError, ValueError, ArithmeticError, KeyError, IndexError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if len(out) > MAX_OUTPUT:
        raise ExpressionError(f"the template rendered more than {MAX_OUTPUT} characters")
    return out


_INTERPOLATION = {
    start: re.compile(
        re.escape(start) + r"((?:[^}\"']|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\}(?!\}))*)\}\}"
    )
    for start in ("${{", "{{")
}
_EXPRESSIONS_CACHED = 512


def _interpolate(env: NunjucksEnvironment, source: str, values: Mapping[str, Any]) -> str | None:
    """Text holding only interpolations, rendered one expression at a time (each compiled once
    per environment): what Jinja would give, without compiling a template per file. None when
    the text needs the full engine (whitespace control, an unclosed tag)."""
    start = env.variable_start_string
    pattern = _INTERPOLATION.get(start)
    if pattern is None:
        return None
    cache: dict[str, Any] = env.__dict__.setdefault("_callboard_expressions", {})
    context = _context(values)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(source):
        expr = match.group(1)
        if expr[:1] in "-+" or expr[-1:] in "-+":
            return None
        compiled = cache.get(expr)
        if compiled is None:
            try:
                compiled = env.compile_expression(_strict_expression(expr), undefined_to_none=False)
            except TemplateError as exc:
                raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
            if len(cache) < _EXPRESSIONS_CACHED:
                cache[expr] = compiled
        try:
            value = compiled(**context)
        except ExpressionError:
            raise
        except (TemplateError, TypeError, ValueError, ArithmeticError, KeyError) as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        out.append(source[last : match.start()])
        out.append(_finalize(value))
        last = match.end()
    rest = source[last:]
    if start in rest:
        return None  # an unclosed interpolation: the full engine says what is wrong
    out.append(rest)
    text = "".join(out)
    if len(text) > MAX_OUTPUT:
        raise ExpressionError(f"the template rendered more than {MAX_OUTPUT} characters")
    return text


def _sole_expression(env: NunjucksEnvironment, source: str) -> nodes.Expr | None:
    """The expression when ``source`` is exactly one interpolation, else None."""
    if "{" not in source:
        return None
    try:
        tree = env.parse(_strict_equality(source))
    except TemplateError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = tree.body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    return parts[0]


def render_value(env: NunjucksEnvironment, source: str, values: Mapping[str, Any]) -> Any:
    """One input string: a sole interpolation keeps its value's type (undefined → ``_DROP``);
    anything else renders to a string."""
    if _sole_expression(env, source) is not None:
        start = env.variable_start_string
        end = env.variable_end_string
        if not (source.startswith(start) and source.endswith(end)):
            return render_string(env, source, values)
        inner = source[len(start) : -len(end)]
        try:
            expr = env.compile_expression(_strict_expression(inner), undefined_to_none=False)
            value = expr(**_context(values))
        except ExpressionError:
            raise
        except (TemplateError, TypeError, ValueError, ArithmeticError, KeyError) as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        return to_plain(value)
    return render_string(env, source, values)


def render_tree(
    env: NunjucksEnvironment,
    value: Any,
    values: Mapping[str, Any],
    on_error: Callable[[str, str], None] | None = None,
) -> Any:
    """Every string leaf of ``value`` rendered (``render_value``); a key whose value is
    undefined is dropped; a leaf that fails is kept as written and reported to ``on_error``."""
    if isinstance(value, str):
        try:
            return render_value(env, value, values)
        except ExpressionError as exc:
            if on_error is not None:
                on_error(value, str(exc))
            return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            item = render_tree(env, v, values, on_error)
            if item is not _DROP:
                out[str(k)] = item
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [
            None if (item := render_tree(env, v, values, on_error)) is _DROP else item
            for v in value
        ]
    return value


def dropped(value: Any) -> bool:
    """The rendered value is undefined (its key is left out)."""
    return value is _DROP

"""Checking dialog values before anything runs; every problem is reported on its field.

Cookiecutter renders every value as unsandboxed Jinja, so a value holding ``{{``, ``{%`` or
``{#`` (or the template's own delimiters) would run as code in the bot: such values are refused
outright, as are unknown and private keys, values over the length limits and control
characters. The component name follows Backstage's name rule and must not be taken.

A value that reaches a file or folder name may not hold ``/`` or ``\\`` nor be ``.`` or ``..``
(every template). A template whose hooks run (trusted) splices values into Python source, as
``"{{ cookiecutter.x }}"``: its choices and booleans take only their declared values, and free
text may not hold quotes, backslashes, ``$``, backticks or line breaks. A secret field's value
never appears in a message or in what is kept for the audit log.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from bot.catalog.model import EntityRef
from bot.catalog.read import CatalogReader
from bot.catalog.validation import is_valid_object_name
from bot.errors import UserError
from bot.scaffold import pickers
from bot.scaffold.model import Answers, InvalidAnswers, Role, Template, Variable

RESERVED = ("name", "owner", "system")
_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")
HOOK_UNSAFE = "'\"\\$`\n\r"
SECRET_SHOWN = "(secret, not recorded)"
NAME_RULE = (
    "must be 1-63 characters: letters, digits and - _ . between them, starting and ending "
    "with a letter or digit (Backstage's name rule)"
)


def validate(
    template: Template,
    values: Mapping[str, str],
    catalog: CatalogReader,
    *,
    max_value_length: int,
    max_text_length: int,
    taken: Sequence[str] = (),
    who: Sequence[str] = (),
) -> Answers:
    """Typed, safe answers for ``template``, or ``InvalidAnswers`` with one message per field.

    ``taken`` holds extra reasons the name is unavailable (an existing repository, a scaffold
    already running), found by the caller; ``who`` the requester's User and group refs (what
    ``OwnedEntityPicker`` and ``MyGroupsPicker`` fields allow).
    """
    errors: dict[str, str] = {}
    clean = _clean(template, values, errors, max_value_length, max_text_length)
    name = clean.get("name", "")
    if "name" not in errors:
        _check_name(name, catalog, taken, errors)
    owner = None
    if "owner" not in errors:
        owner = _entity(
            clean.get("owner", ""),
            "group",
            catalog,
            errors,
            "owner",
            "is required: the owning team (a group)",
        )
    system = None
    if "system" not in errors and clean.get("system"):
        system = _entity(clean["system"], "system", catalog, errors, "system", "")
    context = _template_values(template, clean, errors, catalog, who)

    if errors:
        raise InvalidAnswers(_ordered(errors, template))
    assert owner is not None
    filled: tuple[tuple[Role, str], ...] = (
        ("name", name),
        ("owner", str(owner)),
        ("system", str(system) if system else ""),
    )
    for role, value in filled:
        var = template.role_variable(role)
        if var is not None:
            context[var.name] = value
    secrets = tuple(
        str(values[v]) for v in template.secrets if isinstance(values.get(v), str) and values[v]
    )
    submitted = {k: (SECRET_SHOWN if k in template.secrets else v) for k, v in values.items()}
    return Answers(
        name=name,
        owner=owner,
        system=system,
        context=context,
        submitted=submitted,
        secrets=secrets,
    )


def _clean(
    template: Template,
    values: Mapping[str, str],
    errors: dict[str, str],
    max_value_length: int,
    max_text_length: int,
) -> dict[str, str]:
    """The values that are fields of ``template`` and safe text; problems go to ``errors``."""
    known = {v.name for v in template.asked} | set(RESERVED)
    for key in values:
        if key.startswith("_"):
            errors[key] = "is a private template variable; it cannot be set"
        elif key not in known:
            listed = ", ".join(sorted(known))
            errors[key] = f"is not a field of {template.name} (its fields: {listed})"
    clean: dict[str, str] = {}
    for key, raw in values.items():
        if key in errors:
            continue
        var = template.variable(key)
        multiline = var is not None and var.kind in ("multiline", "json")
        problem = _text_problem(
            raw,
            template,
            var,
            max_text_length if multiline else max_value_length,
            multiline,
        )
        if problem:
            errors[key] = problem
        else:
            clean[key] = raw.strip() if not multiline else raw
    return clean


def _check_name(
    name: str, catalog: CatalogReader, taken: Sequence[str], errors: dict[str, str]
) -> None:
    if not name:
        errors["name"] = "is required: the new component's name"
    elif not is_valid_object_name(name):
        errors["name"] = f"“{name}” {NAME_RULE}"
    else:
        reason = _name_taken(name, catalog) or (taken[0] if taken else None)
        if reason:
            errors["name"] = reason


def _template_values(
    template: Template,
    clean: Mapping[str, str],
    errors: dict[str, str],
    catalog: CatalogReader,
    who: Sequence[str],
) -> dict[str, Any]:
    """The template's own fields, typed, for the fields whose conditions hold."""
    context: dict[str, Any] = {}
    for var in template.asked:
        if var.name in errors:
            continue
        given = clean.get(var.name, "")
        unmet = [c for c in var.when if not c.holds(_current(template, c.field, clean))]
        if unmet:
            continue  # a field for other answers: neither asked for nor passed on
        try:
            decided = all(c.known for c in var.when)
            if var.when and decided and var.required and not given and var.default is None:
                raise ValueError(f"is required when {' and '.join(map(str, var.when))}")
            if var.when and not decided and not given:
                continue  # a page whose condition Callboard cannot read: optional
            value = _typed(template, var, given)
            if value is not None and var.picker is not None:
                value = _picked(var, value, catalog, who)
            if value is not None:
                _check_reach(template, var, value)
        except ValueError as exc:
            errors[var.name] = str(exc)
            continue
        if value is not None:
            context[var.name] = value
    return context


def _picked(var: Variable, value: Any, catalog: CatalogReader, who: Sequence[str]) -> Any:
    """A picker field's value (each item of a list) as the catalog allows it."""
    assert var.picker is not None
    if isinstance(value, list):
        return [pickers.check(var.picker, str(item), catalog, who) for item in value]
    return pickers.check(var.picker, str(value), catalog, who)


def _current(template: Template, name: str, clean: Mapping[str, str]) -> str:
    """What a field that a condition tests holds: the value given, else its default."""
    var = template.variable(name)
    given = clean.get(name, "").strip() or (var.default if var is not None else None) or ""
    if var is not None and var.kind == "boolean":
        return "true" if given.lower() in _TRUE else "false"
    return given


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _check_reach(template: Template, var: Variable, value: Any) -> None:
    """Refuse what a value could do where it lands: a path, or a trusted hook's source."""
    if (
        var.name in template.path_variables
        and isinstance(value, str)
        and ("/" in value or "\\" in value or value.strip() in (".", ".."))
    ):
        raise ValueError(
            "is used in a file or folder name, so it cannot hold / or \\ or be . or .."
        )
    if template.runs_hooks and var.kind in ("text", "number", "multiline", "json"):
        for text in _strings(value):
            bad = sorted({ch for ch in text if ch in HOOK_UNSAFE})
            if bad:
                shown = " ".join("line breaks" if ch in "\r\n" else ch for ch in bad)
                raise ValueError(
                    f"cannot contain {shown}: this template's hooks are code, and quotes, "
                    "backslashes, $, backticks and line breaks would change it"
                )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _ordered(errors: Mapping[str, str], template: Template) -> dict[str, str]:
    order = [*RESERVED, *(v.name for v in template.asked)]
    return dict(
        sorted(errors.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    )


def _text_problem(
    raw: Any, template: Template, var: Variable | None, limit: int, multiline: bool
) -> str | None:
    if not isinstance(raw, str):
        return "must be text"
    if len(raw) > limit:
        return f"is {len(raw)} characters long; the limit is {limit}"
    # A choice option is the template's own text, not the user's: it may contain anything.
    if var is not None and var.kind == "choice" and raw in {v for v, _ in var.choices}:
        return None
    for marker in template.markers:
        if marker in raw:
            return (
                f"contains “{marker}”: template syntax is not allowed in values (the template "
                "engine would run it as code). Nothing was rendered."
            )
    for ch in raw:
        if ch in "\n\t" and multiline:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            what = "line breaks" if ch in "\n\r" else f"control characters (U+{ord(ch):04X})"
            return f"must not contain {what}"
    return None


def _name_taken(name: str, catalog: CatalogReader) -> str | None:
    hits = catalog.index().named(name.lower())
    if hits:
        refs = ", ".join(h.ref for h in hits[:3])
        return f"“{name}” is taken: {refs} is already in the catalog"
    return None


def _entity(
    text: str,
    kind: str,
    catalog: CatalogReader,
    errors: dict[str, str],
    field: str,
    missing: str,
) -> EntityRef | None:
    text = text.strip()
    if not text:
        if missing:
            errors[field] = missing
        return None
    try:
        found = catalog.resolve(text, (kind,))
    except UserError as exc:
        suggestions = getattr(exc, "suggestions", ()) or getattr(exc, "candidates", ())
        more = f" Did you mean {', '.join(suggestions[:3])}?" if suggestions else ""
        errors[field] = f"no {kind} “{text}” in the catalog.{more}"
        return None
    if found.how == "fuzzy":
        errors[field] = f"no {kind} is named “{text}”. Did you mean {found.ref}?"
        return None
    return found.ref


def _typed(template: Template, var: Variable, given: str) -> Any:
    """The value cookiecutter should get for ``var`` (None: keep the template's default)."""
    if not given:
        if var.required and var.default is None and var.derived is None:
            raise ValueError("is required")
        return None
    shown = "the value given" if var.secret else f"“{given}”"
    if var.kind == "boolean":
        return _boolean(given, shown)
    if var.kind == "choice":
        options = [v for v, _ in var.choices]
        if given not in options:
            raise ValueError(f"must be one of {', '.join(options)}; {shown} is not")
        return given
    if var.kind == "number":
        return _number(template, var, given, shown)
    if var.many:
        return _items(var, given)
    if var.kind == "json":
        return _json_object(template, given)
    return _text(template, var, given, shown)


def _boolean(given: str, shown: str) -> bool:
    lowered = given.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be yes or no, not {shown}")


def _number(template: Template, var: Variable, given: str, shown: str) -> Any:
    try:
        number = float(given)
    except ValueError:
        raise ValueError(f"must be a number, not {shown}") from None
    if var.integer and not number.is_integer():
        raise ValueError(f"must be a whole number, not {shown}")
    if var.minimum is not None and number < var.minimum:
        raise ValueError(f"must be at least {_shown_number(var.minimum)}")
    if var.maximum is not None and number > var.maximum:
        raise ValueError(f"must be at most {_shown_number(var.maximum)}")
    if template.engine in ("native", "remote"):  # Backstage's form gives a number
        return int(number) if var.integer or number.is_integer() else number
    return given


def _items(var: Variable, given: str) -> list[str]:
    items = [item.strip() for item in given.split(",") if item.strip()]
    options = [v for v, _ in var.choices]
    wrong = [item for item in items if options and item not in options]
    if wrong:
        raise ValueError(f"{', '.join(wrong)} is not one of {', '.join(options)}")
    if var.required and not items:
        raise ValueError("is required")
    return items


def _json_object(template: Template, given: str) -> dict[str, Any]:
    try:
        value = json.loads(given)
    except ValueError as exc:
        raise ValueError(f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object ({...})")
    _check_leaves(value, template.markers)
    return value


def _text(template: Template, var: Variable, given: str, shown: str) -> str:
    pattern = template.patterns.get(var.name) or var.pattern
    if pattern and not re.fullmatch(pattern, given):
        raise ValueError(f"{shown} does not match the pattern {pattern}")
    if var.min_length is not None and len(given) < var.min_length:
        raise ValueError(f"must be at least {var.min_length} characters")
    if var.max_length is not None and len(given) > var.max_length:
        raise ValueError(f"must be at most {var.max_length} characters")
    if var.format == "email" and not _EMAIL.fullmatch(given):
        raise ValueError(f"{shown} is not an email address")
    if var.format in ("uri", "url") and not _URI.fullmatch(given):
        raise ValueError(f"{shown} is not a URI (scheme:…, such as https://…)")
    return given


def _shown_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _check_leaves(value: Any, markers: Sequence[str]) -> None:
    if isinstance(value, str):
        for marker in markers:
            if marker in value:
                raise ValueError(
                    f"contains “{marker}”: template syntax is not allowed in values (the "
                    "template engine would run it as code)"
                )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_leaves(key, markers)
            _check_leaves(item, markers)
    elif isinstance(value, list):
        for item in value:
            _check_leaves(item, markers)

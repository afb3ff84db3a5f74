"""Template variables, read without rendering: ``cookiecutter.json`` and Backstage parameters.

``cookiecutter.json`` is read with cookiecutter's own ``generate_context``, which evaluates no
Jinja (``prompt_for_config`` would, and may import a template's extensions). A default that
contains Jinja is *derived*: the dialog leaves it empty and shows it as a hint, and cookiecutter
computes it when the user does not fill it in. Type → field, as cookiecutter prompts:

    list        choice (first item is the default; labels from ``__prompts__``)
    bool        boolean
    dict        JSON (multiline)
    "y" / "n"   choice of y and n (cookiecutter-django's flags: hooks test them as strings,
                so any other value would be spliced into their code)
    other       text (numbers become strings, as cookiecutter does)
    _x, __x     not asked (private)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.scaffold.model import (
    JINJA_MARKERS,
    Condition,
    Picker,
    Role,
    Variable,
    VariableKind,
    as_mapping,
)
from bot.scaffold.pickers import describe, picker_of

# Variables that hold the new component's name in common templates, most specific first.
NAME_CANDIDATES = (
    "name",
    "component_id",
    "component_name",
    "service_name",
    "project_slug",
    "package_name",
    "repo_name",
)
CALLBOARD_KEY = "_callboard"  # optional template metadata: title, description, owner, type
YES_NO = ("y", "n")
_COOKIECUTTER_REF = re.compile(
    r"cookiecutter\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])"
)
_PARAMETER_REF = re.compile(r"\b(?:parameters|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")


class TemplateDefinitionError(Exception):
    """A template's own definition is unusable; the message says what and where."""


def read_cookiecutter_json(path: Path) -> dict[str, Any]:
    """The raw context of a ``cookiecutter.json``, in file order, nothing rendered."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context

    try:
        context = generate_context(context_file=str(path))
    except CookiecutterException as exc:
        raise TemplateDefinitionError(f"{path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateDefinitionError(f"{path}: cannot read: {exc}") from exc
    raw = context.get(path.stem)
    if not isinstance(raw, dict):
        raise TemplateDefinitionError(f"{path}: must hold a JSON object of variables")
    return dict(raw)


def markers_for(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Every delimiter the template's Jinja environment understands (``_jinja2_env_vars``)."""
    markers = list(JINJA_MARKERS)
    env_vars = raw.get("_jinja2_env_vars")
    if isinstance(env_vars, Mapping):
        for key in (
            "variable_start_string",
            "variable_end_string",
            "block_start_string",
            "block_end_string",
            "comment_start_string",
            "comment_end_string",
            "line_statement_prefix",
            "line_comment_prefix",
        ):
            value = env_vars.get(key)
            if isinstance(value, str) and value and value not in markers:
                markers.append(value)
    return tuple(markers)


def has_jinja(text: str, markers: Sequence[str] = JINJA_MARKERS) -> bool:
    return any(m in text for m in markers)


def cookiecutter_variables(
    raw: Mapping[str, Any], roles: Mapping[str, str] | None = None
) -> tuple[Variable, ...]:
    """The dialog's view of a raw ``cookiecutter.json``: one variable per public key, in order.

    ``roles`` maps ``name``/``owner``/``system`` to the template variable Callboard fills from
    its own dialog fields; without it, the usual names are recognised (``NAME_CANDIDATES``,
    ``owner``, ``system``).
    """
    prompts = raw.get("__prompts__")
    prompts = prompts if isinstance(prompts, Mapping) else {}
    markers = markers_for(raw)
    role_of = _roles(raw, roles or {})
    out: list[Variable] = []
    for key, value in raw.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        out.append(_variable(key, value, prompts.get(key), role_of.get(key), markers))
    return tuple(out)


def _roles(raw: Mapping[str, Any], configured: Mapping[str, str]) -> dict[str, Role]:
    public = [k for k in raw if isinstance(k, str) and not k.startswith("_")]
    out: dict[str, Role] = {}
    name_var = configured.get("name") or next((c for c in NAME_CANDIDATES if c in public), None)
    if name_var in public:
        out[name_var] = "name"
    for role in ("owner", "system"):
        var = configured.get(role) or (role if role in public else None)
        if var in public and var not in out:
            out[var] = "owner" if role == "owner" else "system"
    return out


def _variable(
    key: str, value: Any, prompt: Any, role: Role | None, markers: Sequence[str]
) -> Variable:
    label = _label(key, prompt)
    if isinstance(value, bool):
        return Variable(key, "boolean", label, default="true" if value else "false", role=role)
    if isinstance(value, list):
        options = [_text(v) for v in value]
        option_labels = prompt if isinstance(prompt, Mapping) else {}
        choices = tuple((option, str(option_labels.get(option) or option)) for option in options)
        return Variable(
            key,
            "choice",
            label,
            default=options[0] if options else None,
            choices=choices,
            role=role,
        )
    if isinstance(value, dict):
        text = json.dumps(value, indent=2)
        if has_jinja(text, markers):
            return Variable(
                key,
                "json",
                label,
                derived=text,
                required=False,
                role=role,
                hint=_derived_hint(text),
            )
        return Variable(
            key,
            "json",
            label,
            default=text,
            required=False,
            role=role,
            hint="A JSON object; keys you leave out keep the template's values.",
        )
    if value is None:
        return Variable(key, "text", label, required=False, role=role)
    text = _text(value)
    if has_jinja(text, markers):
        return Variable(
            key, "text", label, derived=text, required=False, role=role, hint=_derived_hint(text)
        )
    if text.lower() in YES_NO and role is None:
        first = text.lower()
        flags = (first, "n" if first == "y" else "y")
        return Variable(key, "choice", label, default=first, choices=tuple((o, o) for o in flags))
    return Variable(key, "text", label, default=text, required=False, role=role)


def referenced(text: str) -> set[str]:
    """The ``cookiecutter.x`` (or ``cookiecutter['x']``) variables a piece of Jinja uses."""
    return {a or b for a, b in _COOKIECUTTER_REF.findall(text)}


def path_variables(root: Path, raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The variables whose values reach a file or folder name under ``root``: named in a
    path, or used by the default of one that is (``raw``: the template's cookiecutter.json)."""
    found: set[str] = set()
    for _dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            found |= referenced(name)
    todo = list(found)
    while todo:
        value = raw.get(todo.pop())
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        for name in referenced(text) - found:
            found.add(name)
            todo.append(name)
    return tuple(sorted(found))


def parameters_in(values: Mapping[str, Any], keys: Iterable[str]) -> tuple[str, ...]:
    """The Backstage parameters the step's ``values`` feed into ``keys``."""
    found: set[str] = set()
    for key in keys:
        value = values.get(key)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        found |= set(_PARAMETER_REF.findall(text))
    return tuple(sorted(found))


def _derived_hint(raw: str) -> str:
    shown = " ".join(raw.split())
    if len(shown) > 80:
        shown = shown[:79] + "…"
    return f"Leave empty to derive it: {shown}"


def _text(value: Any) -> str:
    # cookiecutter turns non-string scalars into strings with str() before rendering.
    return value if isinstance(value, str) else str(value)


def _label(key: str, prompt: Any) -> str:
    if isinstance(prompt, Mapping):
        prompt = prompt.get("__prompt__")
    if isinstance(prompt, str) and prompt.strip():
        return prompt.strip()
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


# ------------------------------------------------------------------ Backstage JSON Schema pages

_NAME_FIELDS = ("EntityNamePicker",)
_OWNER_FIELDS = ("OwnerPicker", "MyGroupsPicker", "OwnershipEntityRefPicker")
_REPO_FIELDS = ("RepoUrlPicker",)
_OWN_FIELDS = ("name", "owner", "system")  # the dialog's own fields (validate.RESERVED)


@dataclass(frozen=True)
class Form:
    """A Template's form as chat asks it: the variables; ``problems`` that make the template
    unusable (a required field chat cannot ask); ``unasked``: optional fields chat cannot ask,
    each named with why (shown in the dialog, never dropped silently)."""

    variables: tuple[Variable, ...]
    problems: tuple[str, ...]
    unasked: tuple[str, ...] = ()


def backstage_variables(parameters: Any, *, ask_repo: bool = False) -> Form:
    """A Template's ``spec.parameters`` as variables, and what cannot be asked in chat.

    Each page's ``properties`` become fields in order, ``required`` per page. Pickers map to
    Callboard's own fields: ``EntityNamePicker`` → name, ``OwnerPicker`` → owner, an entity
    picker for Systems → system, ``RepoUrlPicker`` → the configured repository. Fields that
    appear only for some answers (``dependencies`` with ``oneOf``, ``if``/``then``/``else``,
    also inside ``allOf``) carry their conditions (``Variable.when``): asked, and required,
    only when they hold. An array is asked as comma-separated text (checked against its
    ``enum``), an object as JSON, a picker chat has no widget for as text with the picker
    named in its hint: nothing is dropped silently. With ``ask_repo`` (a template that opens a
    pull or merge request on an existing repository) a ``RepoUrlPicker`` is asked instead:
    ``host?owner=...&repo=...``, on one of its ``allowedHosts``.
    """
    pages: Iterable[Any]
    if isinstance(parameters, list):
        pages = parameters
    elif isinstance(parameters, Mapping):
        pages = [parameters]
    elif parameters is None:
        pages = []
    else:
        return Form((), ("spec.parameters must be an object or a list of objects",))
    variables: list[Variable] = []
    problems: list[str] = []
    unasked: list[str] = []
    seen_roles: set[str] = {"repo"} if ask_repo else set()
    for page_no, page in enumerate(pages):
        if not isinstance(page, Mapping):
            problems.append(f"spec.parameters[{page_no}] is not an object")
            continue
        # A page's ``if:`` holding an expression (never a JSON schema) is read as its
        # ``when:``, as Backstage's form reads it (its own sample templates use both).
        test = page.get("when", page.get("if") if isinstance(page.get("if"), str) else None)
        when = _page_when(test)
        found = _Found(variables, problems, unasked, seen_roles)
        _page(page, f"spec.parameters[{page_no}]", when, found)
    return Form(tuple(variables), tuple(problems), tuple(unasked))


@dataclass
class _Found:
    """What reading the pages found so far."""

    variables: list[Variable]
    problems: list[str]
    unasked: list[str]
    seen_roles: set[str]


_WHEN = re.compile(
    r"\$\{\{\s*(?P<not>not\s+|!)?parameters\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:(?P<op>===|==|!==|!=)\s*(?P<value>'[^']*'|\"[^\"]*\"|true|false|-?\d+(?:\.\d+)?))?"
    r"\s*\}\}"
)


def _page_when(when: Any) -> tuple[Condition, ...]:
    """A page's ``when:`` as conditions, read (never evaluated): ``${{ parameters.x }}``,
    ``${{ not parameters.x }}``, ``${{ parameters.x === 'v' }}`` (``==``, ``!==``, ``!=``).
    Any other expression keeps its fields asked and optional, the expression shown."""
    if when is None or when is True:
        return ()
    if not isinstance(when, str):
        return (Condition("", (str(when),)),)
    found = _WHEN.fullmatch(when.strip())
    if found is None:
        return (Condition("", (when.strip(),)),)
    field = found.group("field")
    if found.group("op") is None:
        return (Condition(field, (), negate=bool(found.group("not"))),)
    value = found.group("value").strip("'\"")
    negate = found.group("op") in ("!==", "!=")
    return (Condition(field, (value,), negate=negate),)


def _page(
    page: Mapping[str, Any],
    where: str,
    when: tuple[Condition, ...],
    found: _Found,
) -> None:
    """The fields of one page (or one conditional branch of it), conditions included."""
    variables, problems, seen_roles = found.variables, found.problems, found.seen_roles
    required = {str(r) for r in page.get("required") or () if isinstance(r, str)}
    props = page.get("properties") or {}
    if not isinstance(props, Mapping):
        problems.append(f"{where}.properties is not an object")
        return
    for key, schema in props.items():
        if not isinstance(schema, Mapping):
            continue
        if any(v.name == key for v in variables):
            continue  # a branch narrowing a field already asked (its enum), not a new one
        var, problem = _schema_variable(str(key), schema, str(key) in required, seen_roles)
        if problem:
            if str(key) in required and not when:
                problems.append(f"{where}.properties.{key}: {problem}")
            else:
                title = schema.get("title")
                shown = f"{title} ({key})" if isinstance(title, str) and title.strip() else key
                found.unasked.append(f"{shown} is not asked here: it {problem}")
            continue
        if var is not None:
            if when:
                var = replace(var, when=when, role=None)  # Callboard's own fields always apply
            elif var.role:
                seen_roles.add(var.role)
            variables.append(var)
    dependencies = page.get("dependencies")
    if isinstance(dependencies, Mapping):
        for field, dep in dependencies.items():
            if not isinstance(dep, Mapping):
                continue  # a property dependency (a list of names) adds no field
            branches = dep.get("oneOf") or dep.get("anyOf")
            if isinstance(branches, list):
                for n, branch in enumerate(branches):
                    if isinstance(branch, Mapping):
                        cond = _branch_condition(branch, str(field))
                        _page(
                            branch,
                            f"{where}.dependencies.{field}.oneOf[{n}]",
                            (*when, cond),
                            found,
                        )
            else:
                _page(
                    dep,
                    f"{where}.dependencies.{field}",
                    (*when, Condition(str(field))),
                    found,
                )
    clauses = [page, *(c for c in page.get("allOf") or () if isinstance(c, Mapping))]
    for n, clause in enumerate(clauses):
        test = clause.get("if")
        if not isinstance(test, Mapping):
            continue
        conds = _if_conditions(test)
        then, otherwise = clause.get("then"), clause.get("else")
        label = f"{where}.allOf[{n - 1}]" if n else where
        if isinstance(then, Mapping):
            _page(then, f"{label}.then", (*when, *conds), found)
        if isinstance(otherwise, Mapping) and len(conds) == 1:
            flipped = replace(conds[0], negate=not conds[0].negate)
            _page(otherwise, f"{label}.else", (*when, flipped), found)


def _values_of(schema: Any) -> tuple[str, ...]:
    if not isinstance(schema, Mapping):
        return ()

    def shown(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else _text(value)

    if "const" in schema:
        return (shown(schema["const"]),)
    enum = schema.get("enum")
    if isinstance(enum, list):
        return tuple(shown(v) for v in enum)
    return ()


def _branch_condition(branch: Mapping[str, Any], field: str) -> Condition:
    props = branch.get("properties")
    schema = props.get(field) if isinstance(props, Mapping) else None
    return Condition(field, _values_of(schema))


def _if_conditions(test: Mapping[str, Any]) -> tuple[Condition, ...]:
    props = test.get("properties")
    if not isinstance(props, Mapping):
        return ()
    return tuple(Condition(str(k), _values_of(v)) for k, v in props.items() if _values_of(v))


def _schema_variable(
    key: str, schema: Mapping[str, Any], required: bool, seen_roles: set[str]
) -> tuple[Variable | None, str | None]:
    if schema.get("backstage:featureFlag"):
        return None, None  # hidden unless a feature flag is on; chat has no flags
    ui_field = str(schema.get("ui:field") or "")
    ui_options = as_mapping(schema.get("ui:options"))
    label = str(schema.get("title") or _label(key, None))
    hint = str(schema["description"]) if isinstance(schema.get("description"), str) else None
    if ui_field == "Secret" or schema.get("ui:widget") == "password":
        return _secret(key, schema, label, hint, required, ui_field), None
    textual = schema.get("type") in ("string", None)
    role = _role(key, ui_field, ui_options, seen_roles, by_name=textual)
    if role is None and not textual and key in _OWN_FIELDS:
        # Not Callboard's own field of that name (a JSON object, a list...): the dialog has
        # one already, so this one is not asked in chat (``--values`` passes it on as data).
        return None, f"shares its name with Callboard's own {key} field"
    if role is not None:
        picker = picker_of(ui_field, ui_options) if role == "repo" else None
        return Variable(
            key, "text", label, required=required, hint=hint, role=role, picker=picker
        ), None
    if schema.get("ui:widget") == "hidden":
        # Not asked, as Backstage's form does not show it; its default is passed on as is.
        default = schema.get("default")
        return Variable(key, "text", label, required=False, hidden=True, fixed=default), None
    return _typed_variable(key, schema, label, hint, required, ui_field, ui_options)


def _secret(
    key: str,
    schema: Mapping[str, Any],
    label: str,
    hint: str | None,
    required: bool,
    ui_field: str,
) -> Variable:
    # Backstage keeps a Secret field out of the parameters (``${{ secrets.x }}``) and masks
    # it; here neither kind is ever logged, echoed, audited or shown back.
    return Variable(
        key,
        "text",
        label,
        required=required,
        hint=hint,
        secret=True,
        shown_as="Secret" if ui_field == "Secret" else None,
        pattern=_pattern(schema),
        min_length=_int(schema.get("minLength")),
        max_length=_int(schema.get("maxLength")),
    )


def _role(
    key: str,
    ui_field: str,
    ui_options: Mapping[str, Any],
    seen_roles: set[str],
    *,
    by_name: bool = True,
) -> Role | None:
    """Which of the dialog's own fields (name, owner, system, the repository) this one is:
    by its picker, or (``by_name``: a text field) by its name."""
    role: Role | None = None
    named = key if by_name else ""
    if ui_field in _NAME_FIELDS or (named in NAME_CANDIDATES[:2] and "name" not in seen_roles):
        role = "name"
    elif ui_field in _OWNER_FIELDS or (named == "owner" and "owner" not in seen_roles):
        role = "owner"
    elif ui_field in _REPO_FIELDS:
        role = "repo"
    elif _picks_systems(ui_field, ui_options) or (named == "system" and "system" not in seen_roles):
        role = "system"
    return None if role is not None and role in seen_roles else role


def _choices(values: list[Any], names: Any) -> tuple[tuple[str, str], ...]:
    labels = names if isinstance(names, list) and len(names) == len(values) else values
    return tuple((_text(v), _text(n)) for v, n in zip(values, labels, strict=True))


def _typed_variable(
    key: str,
    schema: Mapping[str, Any],
    label: str,
    hint: str | None,
    required: bool,
    ui_field: str,
    ui_options: Mapping[str, Any],
) -> tuple[Variable | None, str | None]:
    """A field by its JSON schema type (and its picker, when the catalog backs it)."""
    type_ = schema.get("type")
    default = schema.get("default")
    shown_default = _text(default) if default is not None else None
    enum = schema.get("enum")
    picker = picker_of(ui_field, ui_options)
    if isinstance(enum, list) and enum:
        choices = _choices(enum, schema.get("enumNames"))
        return Variable(
            key,
            "choice",
            label,
            default=shown_default,
            choices=choices,
            required=required,
            hint=hint,
        ), None
    if type_ == "boolean":
        value = "true" if default is True else "false"
        return Variable(key, "boolean", label, default=value, required=False, hint=hint), None
    if type_ == "array":
        return _array(key, schema, label, hint, required, ui_field, picker), None
    if type_ == "object" and not ui_field:
        return Variable(
            key,
            "json",
            label,
            default=json.dumps(default) if isinstance(default, dict) else None,
            required=required,
            hint=" ".join(x for x in (hint, "A JSON object.") if x),
        ), None
    if type_ in ("number", "integer"):
        return Variable(
            key,
            "number",
            label,
            default=shown_default,
            required=required,
            hint=hint,
            minimum=_number(schema.get("minimum")),
            maximum=_number(schema.get("maximum")),
            integer=type_ == "integer",
        ), None
    if type_ in ("string", None) and picker is not None:
        # A catalog picker: offered from the catalog, checked against what it allows.
        return Variable(
            key,
            "text",
            label,
            default=shown_default,
            required=required,
            hint=" ".join(x for x in (hint, describe(picker)) if x),
            shown_as=ui_field,
            picker=picker,
        ), None
    if type_ in ("string", None) and ui_field:
        # A picker chat has no widget for: asked as text, the picker named (never dropped).
        return Variable(
            key,
            "text",
            label,
            default=shown_default,
            required=required,
            hint=" ".join(x for x in (hint, f"Backstage shows the {ui_field} picker here.") if x),
            pattern=_pattern(schema),
            shown_as=ui_field,
        ), None
    if type_ in ("string", None):
        kind: VariableKind = "multiline" if schema.get("ui:widget") == "textarea" else "text"
        fmt = schema.get("format")
        return Variable(
            key,
            kind,
            label,
            default=shown_default,
            required=required,
            hint=hint,
            pattern=_pattern(schema),
            min_length=_int(schema.get("minLength")),
            max_length=_int(schema.get("maxLength")),
            format=fmt if fmt in ("email", "uri", "url") else None,
        ), None
    if ui_field:
        return None, f"uses the form field {ui_field}, which Callboard cannot show in chat"
    return None, f"is of type {type_}, which Callboard cannot ask for in chat"


def _array(
    key: str,
    schema: Mapping[str, Any],
    label: str,
    hint: str | None,
    required: bool,
    ui_field: str,
    picker: Picker | None,
) -> Variable:
    """An array, asked as comma-separated text (checked against its ``enum``, or each item
    against its picker)."""
    items = as_mapping(schema.get("items"))
    options = items.get("enum")
    picks = _choices(options, items.get("enumNames")) if isinstance(options, list) else ()
    listed = ", ".join(v for v, _ in picks)
    more = f" (some of: {listed})" if picks else ""
    if picker is not None:
        shown = f"{describe(picker).removesuffix('.')}; "
    else:
        shown = f"Backstage shows the {ui_field} picker here; " if ui_field else ""
    default = schema.get("default")
    return Variable(
        key,
        "text",
        label,
        default=", ".join(_text(v) for v in default) if isinstance(default, list) else None,
        choices=picks,
        required=required,
        hint=" ".join(x for x in (hint, f"{shown}comma-separated{more}.") if x),
        many=True,
        shown_as=ui_field or None,
        picker=picker,
    )


def _picks_systems(ui_field: str, options: Mapping[str, Any]) -> bool:
    if ui_field not in ("EntityPicker", "OwnedEntityPicker"):
        return False
    kinds: list[str] = []
    allowed = options.get("allowedKinds")
    if isinstance(allowed, list):
        kinds += [str(k) for k in allowed]
    flt = options.get("catalogFilter")
    for item in flt if isinstance(flt, list) else [flt]:
        if isinstance(item, Mapping):
            kind = item.get("kind")
            kinds += [str(k) for k in kind] if isinstance(kind, list) else [str(kind)]
    return bool(kinds) and all(k.lower() == "system" for k in kinds)


def _pattern(schema: Mapping[str, Any]) -> str | None:
    pattern = schema.get("pattern")
    return str(pattern) if isinstance(pattern, str) and _compiles(pattern) else None


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

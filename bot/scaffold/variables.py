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
from pathlib import Path
from typing import Any

from bot.scaffold.model import JINJA_MARKERS, Role, Variable, VariableKind, as_mapping

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


def backstage_variables(parameters: Any) -> tuple[tuple[Variable, ...], tuple[str, ...]]:
    """A Template's ``spec.parameters`` as variables, and what cannot be asked in chat.

    Each page's ``properties`` become fields in order, ``required`` per page. Pickers map to
    Callboard's own fields: ``EntityNamePicker`` → name, ``OwnerPicker`` → owner, an entity
    picker for Systems → system, ``RepoUrlPicker`` → the configured repository. Secrets and
    arrays cannot be asked in chat: a required one makes the template unusable.
    """
    pages: Iterable[Any]
    if isinstance(parameters, list):
        pages = parameters
    elif isinstance(parameters, Mapping):
        pages = [parameters]
    elif parameters is None:
        pages = []
    else:
        return (), ("spec.parameters must be an object or a list of objects",)
    variables: list[Variable] = []
    problems: list[str] = []
    seen_roles: set[str] = set()
    for page_no, page in enumerate(pages):
        if not isinstance(page, Mapping):
            problems.append(f"spec.parameters[{page_no}] is not an object")
            continue
        required = {str(r) for r in page.get("required") or () if isinstance(r, str)}
        props = page.get("properties") or {}
        if not isinstance(props, Mapping):
            problems.append(f"spec.parameters[{page_no}].properties is not an object")
            continue
        for key, schema in props.items():
            if not isinstance(schema, Mapping):
                continue
            where = f"spec.parameters[{page_no}].properties.{key}"
            var, problem = _schema_variable(str(key), schema, str(key) in required, seen_roles)
            if problem:
                if str(key) in required:
                    problems.append(f"{where}: {problem}")
                continue
            if var is not None:
                if var.role:
                    seen_roles.add(var.role)
                variables.append(var)
    return tuple(variables), tuple(problems)


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
        # Backstage keeps a Secret field out of the parameters (``${{ secrets.x }}``) and
        # masks it; here neither kind is ever logged, echoed, audited or shown back.
        return Variable(
            key,
            "text",
            label,
            required=required,
            hint=hint,
            secret=True,
            pattern=_pattern(schema),
            min_length=_int(schema.get("minLength")),
            max_length=_int(schema.get("maxLength")),
        ), None
    role: Role | None = None
    if ui_field in _NAME_FIELDS or (key in NAME_CANDIDATES[:2] and "name" not in seen_roles):
        role = "name"
    elif ui_field in _OWNER_FIELDS or (key == "owner" and "owner" not in seen_roles):
        role = "owner"
    elif ui_field in _REPO_FIELDS:
        role = "repo"
    elif _picks_systems(ui_field, ui_options) or (key == "system" and "system" not in seen_roles):
        role = "system"
    if role is not None and role in seen_roles:
        role = None
    if role is not None:
        return Variable(key, "text", label, required=required, hint=hint, role=role), None
    type_ = schema.get("type")
    default = schema.get("default")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        names = schema.get("enumNames")
        labels = names if isinstance(names, list) and len(names) == len(enum) else enum
        choices = tuple((_text(v), _text(n)) for v, n in zip(enum, labels, strict=True))
        return Variable(
            key,
            "choice",
            label,
            default=_text(default) if default is not None else None,
            choices=choices,
            required=required,
            hint=hint,
        ), None
    if type_ == "boolean":
        value = "true" if default is True else "false"
        return Variable(key, "boolean", label, default=value, required=False, hint=hint), None
    if type_ in ("number", "integer"):
        return Variable(
            key,
            "number",
            label,
            default=_text(default) if default is not None else None,
            required=required,
            hint=hint,
        ), None
    if type_ in ("string", None) and not ui_field:
        kind: VariableKind = "multiline" if schema.get("ui:widget") == "textarea" else "text"
        return Variable(
            key,
            kind,
            label,
            default=_text(default) if default is not None else None,
            required=required,
            hint=hint,
            pattern=_pattern(schema),
            min_length=_int(schema.get("minLength")),
            max_length=_int(schema.get("maxLength")),
        ), None
    if ui_field:
        return None, f"uses the form field {ui_field}, which Callboard cannot show in chat"
    return None, f"is of type {type_}, which Callboard cannot ask for in chat"


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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

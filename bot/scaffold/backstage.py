"""Backstage ``Template`` entities whose steps use ``fetch:cookiecutter``.

Callboard runs the ``fetch:cookiecutter`` step the way Backstage's action does: the skeleton
goes into a wrapper folder named ``{{cookiecutter and 'contents'}}``, next to a new
``cookiecutter.json`` holding the step's ``values`` (so hooks shipped in the skeleton never
run, on purpose). Publishing and registration are Callboard's own (``scaffold.publish``), in
place of ``publish:*`` and ``catalog:register``.

Only the expressions such values use in practice are evaluated, and nothing else:
``${{ parameters.x }}``, ``${{ parameters.x | parseRepoUrl }}``, ``${{ parameters.x |
parseEntityRef }}``, and ``${{ parameters.x }}`` inside a longer string (``secrets.x`` alike:
a ``ui:field: Secret`` field's value). Any other expression
makes the template unusable, with the reason listed.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from bot.catalog.model import EntityRef
from bot.errors import CatalogError
from bot.scaffold.model import BackstageRecipe, as_mapping

FETCH_ACTION = "fetch:cookiecutter"
# Actions Callboard does itself, in its own way: skipped without complaint.
REPLACED_ACTIONS = ("publish:", "catalog:register", "catalog:write", "debug:")

_WHOLE = re.compile(
    r"\s*\$\{\{\s*(?:parameters|secrets)\.([A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\|\s*(parseRepoUrl|parseEntityRef)\s*)?\}\}\s*"
)
_INLINE = re.compile(r"\$\{\{\s*(?:parameters|secrets)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_EXPR = re.compile(r"\$\{\{.*?\}\}", re.S)


class Unsupported(Exception):
    """A template Callboard cannot run; the message says why."""


def recipe(ref: str, spec: Mapping[str, Any]) -> BackstageRecipe:
    """The template's one ``fetch:cookiecutter`` step, or ``Unsupported`` saying why not."""
    steps = spec.get("steps")
    if not isinstance(steps, list):
        raise Unsupported("spec.steps is missing")
    fetches = [s for s in steps if isinstance(s, Mapping) and s.get("action") == FETCH_ACTION]
    if not fetches:
        raise Unsupported(f"no step uses {FETCH_ACTION}")
    if len(fetches) > 1:
        raise Unsupported(f"{len(fetches)} steps use {FETCH_ACTION}; Callboard runs one")
    others = [
        str(s.get("action"))
        for s in steps
        if isinstance(s, Mapping)
        and s.get("action") != FETCH_ACTION
        and not str(s.get("action", "")).startswith(REPLACED_ACTIONS)
    ]
    if others:
        raise Unsupported(f"step action {others[0]} is not something Callboard can run")
    step = fetches[0]
    if step.get("if") not in (None, True) or step.get("each") is not None:
        raise Unsupported(f"the {FETCH_ACTION} step is conditional (if/each)")
    inputs = as_mapping(step.get("input"))
    url = inputs.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Unsupported(f"the {FETCH_ACTION} step has no input.url")
    if "://" in url or url.startswith("/"):
        raise Unsupported(
            f"the skeleton is at {url}; Callboard fetches only skeletons next to the template"
        )
    target = inputs.get("targetPath", ".")
    if not isinstance(target, str):
        raise Unsupported("input.targetPath must be a string")
    target = posixpath.normpath(target.strip() or ".")
    if target.startswith("/") or target == ".." or target.startswith("../") or "${{" in target:
        raise Unsupported(f"input.targetPath {target!r} must be a plain relative folder")
    values = inputs.get("values") or {}
    if not isinstance(values, Mapping):
        raise Unsupported("input.values must be an object")
    check_expressions(values)
    copy = inputs.get("copyWithoutRender") or []
    extensions = inputs.get("extensions") or []
    if not isinstance(copy, list) or not isinstance(extensions, list):
        raise Unsupported("input.copyWithoutRender and input.extensions must be lists")
    return BackstageRecipe(
        ref=ref,
        values=dict(values),
        target_path=target,
        copy_without_render=tuple(str(c) for c in copy),
        extensions=tuple(str(e) for e in extensions),
    )


def skeleton_path(spec: Mapping[str, Any]) -> str:
    for step in spec.get("steps") or ():
        if isinstance(step, Mapping) and step.get("action") == FETCH_ACTION:
            inputs = step.get("input")
            if isinstance(inputs, Mapping) and isinstance(inputs.get("url"), str):
                return str(inputs["url"])
    raise Unsupported(f"no step uses {FETCH_ACTION}")


def check_expressions(value: Any) -> None:
    """Raise ``Unsupported`` for any ``${{ }}`` expression Callboard does not evaluate."""
    if isinstance(value, str):
        if _WHOLE.fullmatch(value):
            return
        leftover = _INLINE.sub("", value)
        found = _ANY_EXPR.search(leftover)
        if found:
            raise Unsupported(
                f"input.values uses {found.group(0)}, which Callboard does not "
                "evaluate (it supports ${{ parameters.x }}, parseRepoUrl and "
                "parseEntityRef)"
            )
        return
    if isinstance(value, Mapping):
        for item in value.values():
            check_expressions(item)
    elif isinstance(value, list):
        for item in value:
            check_expressions(item)


def evaluate(value: Any, parameters: Mapping[str, Any]) -> Any:
    """The step's values with ``parameters`` filled in (a missing parameter becomes "")."""
    if isinstance(value, str):
        whole = _WHOLE.fullmatch(value)
        if whole:
            param = parameters.get(whole.group(1), "")
            if whole.group(2) == "parseRepoUrl":
                return parse_repo_url(str(param))
            if whole.group(2) == "parseEntityRef":
                return parse_entity_ref(str(param))
            return param
        return _INLINE.sub(lambda m: _plain(parameters.get(m.group(1), "")), value)
    if isinstance(value, Mapping):
        return {str(k): evaluate(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, parameters) for v in value]
    return value


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def parse_repo_url(value: str) -> dict[str, str]:
    """Backstage's ``parseRepoUrl``: ``github.com?owner=org&repo=name`` → its parts."""
    host, _, query = value.partition("?")
    out = {"host": host}
    for key, items in parse_qs(query).items():
        if items:
            out[key] = items[0]
    return out


def parse_entity_ref(value: str) -> dict[str, str]:
    try:
        ref = EntityRef.parse(value, "group")
    except CatalogError:
        return {"kind": "", "namespace": "", "name": value}
    return {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def repo_url_value(remote: str, name: str) -> str:
    """The ``RepoUrlPicker`` value for the configured remote: ``host?owner=org&repo=name``."""
    host, owner = _host_owner(remote)
    return f"{host}?owner={owner}&repo={name}"


def _host_owner(remote: str) -> tuple[str, str]:
    if "://" in remote:
        scheme, rest = remote.split("://", 1)
        netloc, _, path = rest.partition("/")
        host = netloc.rsplit("@", 1)[-1] or ("localhost" if scheme == "file" else scheme)
    elif ":" in remote:  # git@host:org/name.git
        netloc, _, path = remote.partition(":")
        host = netloc.rsplit("@", 1)[-1]
    else:
        host, path = "localhost", remote
    parts = [p for p in path.split("/") if p]
    owner = parts[-2] if len(parts) >= 2 else ""
    return host, owner

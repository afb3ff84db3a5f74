"""Cookiecutter's rendering, re-done in a Jinja sandbox, with every output path confined.

Cookiecutter (2.7) renders with ``StrictEnvironment``, a plain ``jinja2.Environment``, and offers
no way to pass another environment class: a template's ``{{ cycler.__init__.__globals__.os }}``
reaches Python. Untrusted templates are therefore rendered here instead, in the render child,
with ``jinja2.sandbox.ImmutableSandboxedEnvironment`` (no ``_``-attributes, no mutation of
lists and dicts, no unsafe callables) and cookiecutter's semantics that templates rely on:

- ``cookiecutter.json`` read with cookiecutter's own ``generate_context`` (nothing rendered)
  and the dialog's values applied as ``extra_context``; then the defaults rendered in file
  order as ``prompt_for_config(no_input=True)`` does (choices take their first option,
  booleans kept, ``_x`` raw, ``__x`` rendered, dicts in a second pass, ``__prompts__`` dropped);
- the one top-level folder with ``cookiecutter`` and the variable delimiters in its name;
  file and folder names rendered; a file whose name renders empty is skipped; binary files
  copied unrendered; ``_copy_without_render`` globs; ``_new_lines`` or the source's newline;
  file modes (permission bits only); ``{% include %}`` from the template folder and
  ``../templates``; ``_jinja2_env_vars`` limited to syntax options; cookiecutter's default
  extensions, and ``_extensions`` only from ``cookiecutter.extensions`` and ``jinja2.ext``.

Not supported here (a trusted template gets real cookiecutter): hooks, local extensions,
nested templates. Symbolic links in the template are refused rather than followed.

``plan`` renders every output path before anything is written, for both renderers: a path
part that renders to ``.``, ``..``, or holds ``/`` or ``\\`` is refused, and every path must
stay inside the output folder. Only the standard library, jinja2, binaryornot and
cookiecutter are imported (this runs in the render child).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_EXTENSIONS = (
    "cookiecutter.extensions.JsonifyExtension",
    "cookiecutter.extensions.RandomStringExtension",
    "cookiecutter.extensions.SlugifyExtension",
    "cookiecutter.extensions.TimeExtension",
    "cookiecutter.extensions.UUIDExtension",
)
ALLOWED_EXTENSION_PREFIXES = ("cookiecutter.extensions.", "jinja2.ext.", "jinja2_time.")
# _jinja2_env_vars keys that change syntax only; anything else (finalize, undefined, loader,
# extensions...) would hand the template a way to configure the engine itself.
SYNTAX_OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
)


class SandboxError(Exception):
    """The template cannot be rendered safely; the message says why, for a chat user."""


Render = Callable[[str, Mapping[str, Any]], str]


@dataclass(frozen=True)
class Entry:
    """One path of the template folder and where it goes (both relative, ``/``-separated)."""

    source: str  # relative to the template's project folder
    target: str  # relative to the output folder, project folder included
    kind: str  # "dir" | "file" | "copy-dir" | "copy-file"


# ----------------------------------------------------------------------------- environment


def environment(context: Mapping[str, Any], search: list[str] | None = None) -> Any:
    """A sandboxed, strict Jinja environment configured as cookiecutter configures its own."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    raw = context.get("cookiecutter") or {}
    env_vars = raw.get("_jinja2_env_vars") or {}
    if not isinstance(env_vars, Mapping):
        raise SandboxError("_jinja2_env_vars must be an object")
    options: dict[str, Any] = {"keep_trailing_newline": True}
    for key, value in env_vars.items():
        if key not in SYNTAX_OPTIONS:
            raise SandboxError(
                f"_jinja2_env_vars.{key} is not allowed for an untrusted template (only the "
                "syntax options are)"
            )
        options[key] = value
    extensions = list(DEFAULT_EXTENSIONS)
    for ext in raw.get("_extensions") or ():
        if not isinstance(ext, str) or not ext.startswith(ALLOWED_EXTENSION_PREFIXES):
            raise SandboxError(
                f"the Jinja extension {ext} would run the template's own code; only "
                "templates listed in scaffold.trusted may load it"
            )
        extensions.append(ext)
    try:
        return ImmutableSandboxedEnvironment(
            undefined=StrictUndefined,
            extensions=extensions,
            loader=FileSystemLoader(search) if search else None,
            **options,
        )
    except (ImportError, TypeError, ValueError, AttributeError) as exc:
        raise SandboxError(f"the template's Jinja settings are not usable: {exc}") from exc


def sandbox_render(env: Any) -> Render:
    def render(text: str, variables: Mapping[str, Any]) -> str:
        return str(env.from_string(text).render(**variables))

    return render


# ----------------------------------------------------------------------------- context


def load_context(template_dir: str, extra_context: Mapping[str, Any]) -> dict[str, Any]:
    """``{'cookiecutter': raw values with the overrides applied}``; no Jinja is evaluated."""
    from cookiecutter.generate import generate_context

    context = generate_context(
        context_file=os.path.join(template_dir, "cookiecutter.json"),
        extra_context=dict(extra_context),
    )
    return dict(context)


def context_values(context: dict[str, Any], render: Render) -> OrderedDict[str, Any]:
    """The values cookiecutter's ``prompt_for_config(context, no_input=True)`` would give."""
    from jinja2 import UndefinedError

    raw: Mapping[str, Any] = dict(context["cookiecutter"])
    out: OrderedDict[str, Any] = OrderedDict()

    def value(item: Any) -> Any:
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, dict):
            return {value(k): value(v) for k, v in item.items()}
        if isinstance(item, list):
            return [value(v) for v in item]
        return render(item if isinstance(item, str) else str(item), {"cookiecutter": out})

    for key, item in raw.items():
        if key == "__prompts__":
            continue
        try:
            if key.startswith("_") and not key.startswith("__"):
                out[key] = item
            elif key.startswith("__"):
                out[key] = value(item)
            elif isinstance(item, list):
                if not item:
                    raise SandboxError(f"the choice variable {key} has no options")
                out[key] = value(item[0])
            elif not isinstance(item, dict):
                out[key] = value(item)
        except UndefinedError as exc:
            raise SandboxError(f"Unable to render variable '{key}': {exc}") from exc
    for key, item in raw.items():
        if key.startswith("_") and not key.startswith("__"):
            continue
        if isinstance(item, dict):
            try:
                out[key] = value(item)
            except UndefinedError as exc:
                raise SandboxError(f"Unable to render variable '{key}': {exc}") from exc
    return out


# ----------------------------------------------------------------------------- paths


def find_project_dir(template_dir: str, env: Any) -> str:
    """The top-level folder cookiecutter renders (its name holds ``cookiecutter`` and ``{{ }}``)."""
    for name in sorted(os.listdir(template_dir)):
        if (
            "cookiecutter" in name
            and env.variable_start_string in name
            and env.variable_end_string in name
            and os.path.isdir(os.path.join(template_dir, name))
        ):
            return name
    raise SandboxError(
        "the template has no project folder (a top-level folder whose name contains "
        "cookiecutter and {{ }})"
    )


def path_part(rendered: str, source: str) -> str:
    """``rendered`` when it is one plain path part; else ``SandboxError`` naming ``source``."""
    if "/" in rendered or "\\" in rendered or rendered in (".", "..") or "\0" in rendered:
        raise SandboxError(
            f"the path {source} renders to “{rendered[:120]}”, which is not a plain file or "
            "folder name (no /, \\, . or ..); nothing was written"
        )
    return rendered


def _copy_only(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def plan(
    template_dir: str,
    project: str,
    variables: Mapping[str, Any],
    render: Render,
    *,
    refuse_links: bool,
) -> list[Entry]:
    """Every output path, rendered and checked, before anything is written.

    ``project`` is the unrendered project folder's name inside ``template_dir``.
    """
    from jinja2 import UndefinedError

    patterns = [str(p) for p in (variables["cookiecutter"].get("_copy_without_render") or ()) if p]
    root = os.path.join(template_dir, project)

    def part(name: str, source: str) -> str:
        try:
            return render(name, variables)
        except UndefinedError as exc:
            raise SandboxError(f"Unable to create '{source}': {exc}") from exc

    top = path_part(part(project, project), project)
    if not top:
        raise SandboxError("the project folder's name renders empty")
    entries = [Entry("", top, "dir")]
    targets: dict[str, str] = {"": top}  # unrendered folder → rendered folder

    for here, dirs, files in _walk(root, refuse_links):
        rel_here = os.path.relpath(here, root)
        rel_here = "" if rel_here == "." else rel_here.replace(os.sep, "/")
        out_here = targets[rel_here]
        keep: list[str] = []
        for d in sorted(dirs):
            source = f"{rel_here}/{d}" if rel_here else d
            name = path_part(part(d, source), source)
            if not name:
                raise SandboxError(f"the folder {source} renders to an empty name")
            target = f"{out_here}/{name}"
            if _copy_only(os.path.normpath(source), patterns):
                entries.append(Entry(source, target, "copy-dir"))
                _check_tree(os.path.join(root, source), refuse_links)
                continue
            targets[source] = target
            entries.append(Entry(source, target, "dir"))
            keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            source = f"{rel_here}/{f}" if rel_here else f
            name = path_part(part(f, source), source)
            if not name:
                continue  # cookiecutter skips a file whose name renders empty
            kind = "copy-file" if _copy_only(os.path.normpath(source), patterns) else "file"
            entries.append(Entry(source, f"{out_here}/{name}", kind))
    return entries


def _walk(root: str, refuse_links: bool) -> Iterator[tuple[str, list[str], list[str]]]:
    for here, dirs, files in os.walk(root, followlinks=False):
        if refuse_links:
            for name in [*dirs, *files]:
                if os.path.islink(os.path.join(here, name)):
                    rel = os.path.relpath(os.path.join(here, name), root)
                    raise SandboxError(f"the template holds a symbolic link ({rel}); refused")
        yield here, dirs, files


def _check_tree(folder: str, refuse_links: bool) -> None:
    for _ in _walk(folder, refuse_links):
        pass


def confined(output_dir: str, target: str) -> str:
    """The absolute path of ``target`` under ``output_dir``; ``SandboxError`` if it leaves it."""
    base = os.path.realpath(output_dir)
    path = os.path.realpath(os.path.join(base, target))
    if os.path.commonpath([base, path]) != base or path == base:
        raise SandboxError(f"the path {target} would be written outside the job folder; refused")
    return path


def check_plan(output_dir: str, entries: list[Entry]) -> None:
    """Every planned path stays inside ``output_dir`` (which must not hold the project yet)."""
    for entry in entries:
        confined(output_dir, entry.target)
    if os.path.lexists(os.path.join(output_dir, entries[0].target)):
        raise SandboxError(f'Error: "{entries[0].target}" directory already exists')


# ----------------------------------------------------------------------------- generate


def generate(template_dir: str, extra_context: Mapping[str, Any], output_dir: str) -> str:
    """Render an untrusted template in the sandbox into ``output_dir``; the project's path."""
    from binaryornot.check import is_binary
    from jinja2 import TemplateError, UndefinedError

    # A link anywhere in the template (its ../templates for {% include %} too) could point at
    # the bot's own files.
    _check_tree(template_dir, refuse_links=True)
    context = load_context(template_dir, extra_context)
    if {"template", "templates"} & set(context["cookiecutter"]):
        raise SandboxError("nested templates are not supported")
    env = environment(context)
    render = sandbox_render(env)
    try:
        values = context_values(context, render)
    except TemplateError as exc:
        raise SandboxError(_jinja_message(exc)) from exc
    original = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
    values["_template"] = template_dir
    values["_output_dir"] = os.path.abspath(output_dir)
    values["_repo_dir"] = template_dir
    values["_checkout"] = None
    variables = {"cookiecutter": values, "_cookiecutter": original}
    project = find_project_dir(template_dir, env)
    root = os.path.join(template_dir, project)
    try:
        entries = plan(template_dir, project, variables, render, refuse_links=True)
    except TemplateError as exc:
        raise SandboxError(_jinja_message(exc)) from exc
    check_plan(output_dir, entries)
    from jinja2 import FileSystemLoader

    env.loader = FileSystemLoader([root, os.path.join(template_dir, "templates")])
    new_lines = values.get("_new_lines") or None
    for entry in entries:
        target = confined(output_dir, entry.target)
        source = os.path.join(root, entry.source) if entry.source else root
        if entry.kind == "dir":
            os.makedirs(target, exist_ok=entry.source != "")
            continue
        if entry.kind == "copy-dir":
            shutil.copytree(source, target, symlinks=True)
            continue
        if entry.kind == "copy-file" or is_binary(source):
            shutil.copyfile(source, target)
        else:
            try:
                text = env.get_template(entry.source).render(**variables)
            except UndefinedError as exc:
                raise SandboxError(f"Unable to create file '{entry.source}': {exc}") from exc
            except TemplateError as exc:
                raise SandboxError(f"{entry.source}: {_jinja_message(exc)}") from exc
            newline = new_lines or _newline(source)
            with open(target, "w", encoding="utf-8", newline=newline) as handle:
                handle.write(text)
        os.chmod(target, stat.S_IMODE(os.stat(source).st_mode) & 0o777)
    return confined(output_dir, entries[0].target)


def _newline(path: str) -> str | None:
    with open(path, encoding="utf-8") as handle:
        handle.readline()
        found = handle.newlines
    return found[0] if isinstance(found, tuple) else found


def _jinja_message(exc: Exception) -> str:
    from jinja2.exceptions import SecurityError

    if isinstance(exc, SecurityError):
        return (
            f"the template tried something the sandbox forbids ({exc}); untrusted templates "
            "cannot reach Python internals"
        )
    return f"{type(exc).__name__}: {exc}"

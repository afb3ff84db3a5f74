"""The built-in actions Callboard runs itself, with Backstage's semantics.

Each action gets its rendered input and an ``ActionContext`` (the workspace, the template's
folder, logging, outputs). Every path is confined: reads to the template's folder, writes to
the workspace (``confine``); symbolic links in a skeleton are refused rather than followed.

- ``fetch:template`` / ``fetch:template:file``: skeleton files rendered (``${{ values.x }}``,
  or ``{{ cookiecutter.x }}`` with ``cookiecutterCompat``), names rendered, binary files
  copied, ``copyWithoutTemplating`` (names rendered, contents copied), ``copyWithoutRender``
  (neither), ``templateFileExtension`` (only ``*.njk`` rendered, the extension dropped),
  ``replace``, ``trimBlocks``/``lstripBlocks``; a name rendering empty skips the entry.
- ``fetch:plain`` / ``fetch:plain:file``: copied as they are.
- ``fetch:cookiecutter``: the skeleton rendered by the cookiecutter sandbox
  (``bot.scaffold.sandbox``), as Backstage's action wraps it.
- ``fs:rename``, ``fs:delete`` (globs), ``debug:log``, ``catalog:write``.

Publishing and registration (``publish:github``, ``publish:gitlab``, ``catalog:register``) are
not actions here: the engine records them and Callboard's own publisher does them afterwards.
Pull and merge requests (``LIVE``) are not actions here either: the engine asks the bot to
open them as the step runs (``bot.scaffold.pull_requests``), since later steps and ``output``
use the request's URL and number.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.annotations import SOURCE_TEMPLATE
from bot.scaffold.v1beta3 import expressions as ex


class ActionError(Exception):
    """An action failed; the message says why (shown as the step's failure)."""


@dataclass
class ActionContext:
    """What an action may touch: its workspace, the template's folder, the log, outputs."""

    workspace: str
    template_dir: str
    template_ref: str
    integrations: Mapping[str, str]
    max_files: int
    log: Callable[[str], None]
    outputs: dict[str, Any] = field(default_factory=dict)
    files: int | None = None  # files in the workspace (counted once, then kept up to date)

    def output(self, name: str, value: Any) -> None:
        self.outputs[name] = value


def confine(base: str, rel: str, what: str = "path") -> str:
    """``rel`` resolved under ``base``; ``ActionError`` when it would leave it."""
    root = os.path.realpath(base)
    path = os.path.realpath(os.path.join(root, rel))
    if path != root and os.path.commonpath([root, path]) != root:
        raise ActionError(
            f"Relative path is not allowed to refer to a directory outside its parent: {rel}"
        )
    return path


def _source(ctx: ActionContext, url: Any, what: str) -> str:
    if not isinstance(url, str) or not url:
        raise ActionError(f"{what}: input url is required")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
        raise ActionError(
            f"{what}: {url} is not next to the template; Callboard fetches skeletons only from "
            "the template's own folder"
        )
    path = confine(ctx.template_dir, url)
    _refuse_links(path)
    return path


def _refuse_links(path: str) -> None:
    if os.path.islink(path):
        raise ActionError(f"the skeleton holds a symbolic link ({os.path.basename(path)}); refused")
    if os.path.isdir(path):
        for here, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                if os.path.islink(os.path.join(here, name)):
                    rel = os.path.relpath(os.path.join(here, name), path)
                    raise ActionError(f"the skeleton holds a symbolic link ({rel}); refused")


def _count(ctx: ActionContext, added: int = 1) -> None:
    """Bound the workspace's files: counted once per action, then one more per write."""
    if ctx.files is None or added == 0:
        ctx.files = sum(len(files) for _, _, files in os.walk(ctx.workspace))
    else:
        ctx.files += added
    if ctx.files > ctx.max_files:
        raise ActionError(
            f"the template produced more than {ctx.max_files} files; refused (scaffold.max_files)"
        )


def _is_binary(path: str) -> bool:
    from binaryornot.check import is_binary

    return bool(is_binary(path))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A globby/micromatch pattern (``*``, ``**``, ``?``, ``{a,b}``, dotfiles matched)."""
    out = ""
    i = 0
    pattern = pattern[2:] if pattern.startswith("./") else pattern
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "{":
            end = pattern.find("}", i)
            if end == -1:
                out += re.escape(c)
            else:
                out += "(?:" + "|".join(re.escape(p) for p in pattern[i + 1 : end].split(",")) + ")"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"/?\Z")


def _entries(root: str) -> list[str]:
    """Every entry under ``root`` as globby lists it: relative, ``/``-separated, folders
    with a trailing ``/``."""
    found: list[str] = []
    for here, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(here, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found.extend(f"{prefix}{d}/" for d in dirs)
        found.extend(f"{prefix}{f}" for f in sorted(files))
    return sorted(found)


def _renderer(inputs: Mapping[str, Any], ctx: ActionContext) -> tuple[Any, dict[str, Any]]:
    compat = bool(inputs.get("cookiecutterCompat"))
    env = ex.environment(
        compat=compat,
        integrations=ctx.integrations,
        trim_blocks=bool(inputs.get("trimBlocks")),
        lstrip_blocks=bool(inputs.get("lstripBlocks")),
    )
    values = inputs.get("values") or {}
    return env, {"cookiecutter" if compat else "values": values}


def _render(env: Any, text: str, context: Mapping[str, Any], where: str) -> str:
    try:
        return ex.render_string(env, text, context)
    except ex.ExpressionError as exc:
        raise ActionError(f"{where}: {exc}") from None


def fetch_template(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    ctx.log("Fetching template content from remote URL")
    source = _source(ctx, inputs.get("url"), "fetch:template")
    if not os.path.isdir(source):
        raise ActionError(f"fetch:template: {inputs.get('url')} is not a folder")
    out_dir = confine(ctx.workspace, str(inputs.get("targetPath") or "./"))
    copy_render = inputs.get("copyWithoutRender")
    copy_templating = inputs.get("copyWithoutTemplating")
    if copy_render and copy_templating:
        raise ActionError(
            "Fetch action input copyWithoutRender and copyWithoutTemplating can not be used at "
            "the same time"
        )
    patterns = copy_render if copy_render else copy_templating
    render_names = not copy_render
    if patterns is not None and not isinstance(patterns, list):
        raise ActionError(
            "Fetch action input copyWithoutRender/copyWithoutTemplating must be an Array"
        )
    extension: str | bool = inputs.get("templateFileExtension") or False
    if extension and (patterns or inputs.get("cookiecutterCompat")):
        raise ActionError(
            "Fetch action input extension incompatible with copyWithoutRender/"
            "copyWithoutTemplating and cookiecutterCompat"
        )
    if extension is True:
        extension = ".njk"
    if isinstance(extension, str) and not extension.startswith("."):
        extension = "." + extension
    ctx.log("Listing files and directories in template")
    entries = _entries(source)
    regexes = [_glob_regex(str(p)) for p in patterns or ()]
    plain = {e for e in entries if any(r.match(e) for r in regexes)}
    env, context = _renderer(inputs, ctx)
    ctx.log(
        f"Processing {len(entries)} template files/directories with input values "
        f"{ex.js_json(inputs.get('values') or {})}"
    )
    for location in entries:
        local = location
        if extension:
            render_contents = os.path.splitext(local.rstrip("/"))[
                1
            ] == extension and not local.endswith("/")
            if render_contents:
                local = local[: -len(str(extension))]
            local = _render(env, local, context, location)
        else:
            render_contents = location not in plain
            if render_names or render_contents:
                local = _render(env, local, context, location)
        if local == "" or local.startswith("/") or "//" in local:
            continue  # a name rendered empty: the entry is skipped
        target = confine(out_dir, local)
        if os.path.lexists(target) and not inputs.get("replace"):
            continue
        if location.endswith("/"):
            ctx.log(f"Writing directory {location} to template output path.")
            os.makedirs(target, exist_ok=True)
            continue
        path = os.path.join(source, location)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if _is_binary(path):
            ctx.log(f"Copying file binary or symbolic link at {location}, to template output path.")
            shutil.copyfile(path, target)
            shutil.copymode(path, target)
        else:
            mode = os.stat(path).st_mode
            ctx.log(f"Writing file {location} to template output path with mode {mode}.")
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", errors="replace")
            if render_contents:
                text = _render(env, text, context, location)
            _write(target, text, mode)
        _count(ctx)
    ctx.log(f"Template result written to {out_dir}")


def _write(target: str, text: str, mode: int | None = None) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(text.encode("utf-8"))
    if mode is not None:
        os.chmod(target, stat.S_IMODE(mode) & 0o777 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fetch_template_file(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    target_path = inputs.get("targetPath")
    if not isinstance(target_path, str) or not target_path:
        raise ActionError("fetch:template:file: input targetPath is required")
    target = confine(ctx.workspace, target_path)
    if os.path.lexists(target) and not inputs.get("replace"):
        ctx.log(f"File {target_path} already exists in workspace, not replacing.")
        return
    ctx.log("Fetching template file content from remote URL")
    source = _source(ctx, inputs.get("url"), "fetch:template:file")
    if not os.path.isfile(source):
        raise ActionError(f"fetch:template:file: {inputs.get('url')} is not a file")
    env, context = _renderer(inputs, ctx)
    ctx.log(f"Processing template file with input values {ex.js_json(inputs.get('values') or {})}")
    with open(source, "rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    _write(target, _render(env, text, context, str(inputs.get("url"))))
    ctx.log(f"Template file has been written to {target}")
    _count(ctx)


def fetch_plain(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    ctx.log("Fetching plain content from remote URL")
    out_dir = confine(ctx.workspace, str(inputs.get("targetPath") or "./"))
    source = _source(ctx, inputs.get("url"), "fetch:plain")
    if os.path.isdir(source):
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        shutil.copyfile(source, out_dir)
    _count(ctx, 0)


def fetch_plain_file(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    ctx.log("Fetching plain content from remote URL")
    target_path = inputs.get("targetPath")
    if not isinstance(target_path, str) or not target_path:
        raise ActionError("fetch:plain:file: input targetPath is required")
    target = confine(ctx.workspace, target_path)
    source = _source(ctx, inputs.get("url"), "fetch:plain:file")
    if not os.path.isfile(source):
        raise ActionError(f"fetch:plain:file: {inputs.get('url')} is not a file")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    _count(ctx)


def fetch_cookiecutter(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    """Backstage's ``fetch:cookiecutter``: the skeleton in a wrapper folder named
    ``{{cookiecutter and 'contents'}}`` beside a ``cookiecutter.json`` of the step's values
    (so a skeleton's hooks never run), rendered in the cookiecutter sandbox."""
    from bot.scaffold import sandbox

    source = _source(ctx, inputs.get("url"), "fetch:cookiecutter")
    out_dir = confine(ctx.workspace, str(inputs.get("targetPath") or "./"))
    values = dict(inputs.get("values") or {})
    copy = inputs.get("copyWithoutRender") or []
    if copy:
        values["_copy_without_render"] = list(copy)
    extensions = inputs.get("extensions") or []
    if extensions:
        values["_extensions"] = list(extensions)
    with tempfile.TemporaryDirectory(
        prefix="cookiecutter-", dir=os.path.dirname(ctx.workspace)
    ) as tmp:
        wrapper = os.path.join(tmp, "template")
        shutil.copytree(source, os.path.join(wrapper, "{{cookiecutter and 'contents'}}"))
        with open(os.path.join(wrapper, "cookiecutter.json"), "w", encoding="utf-8") as handle:
            json.dump(values, handle)
        rendered = os.path.join(tmp, "out")
        os.makedirs(rendered)
        try:
            project = sandbox.generate(wrapper, {}, rendered)
        except sandbox.SandboxError as exc:
            raise ActionError(f"fetch:cookiecutter: {exc}") from None
        shutil.copytree(project, out_dir, dirs_exist_ok=True)
    _count(ctx, 0)


def fs_rename(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    files = inputs.get("files")
    if not isinstance(files, list):
        raise ActionError("files must be an Array")
    for item in files:
        if not isinstance(item, Mapping) or not item.get("from") or not item.get("to"):
            raise ActionError("each file must have a from and to property")
        src = confine(ctx.workspace, str(item["from"]))
        dest = confine(ctx.workspace, str(item["to"]))
        if not os.path.lexists(src):
            raise ActionError(f"Failed to rename file {src} to {dest}: it does not exist")
        if os.path.lexists(dest):
            if not item.get("overwrite"):
                raise ActionError(f"Failed to rename file {src} to {dest}: dest already exists.")
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            else:
                os.remove(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.rename(src, dest)
        ctx.log(f"File {src} renamed to {dest} successfully")


def fs_delete(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    files = inputs.get("files")
    if not isinstance(files, list):
        raise ActionError("files must be an Array")
    root = os.path.realpath(ctx.workspace)
    for pattern in files:
        named = confine(root, str(pattern))
        if os.path.isdir(named) and not any(ch in str(pattern) for ch in "*?{"):
            # globby expands a folder to everything in it
            shutil.rmtree(named)
            ctx.log(f"File {named} deleted successfully")
            continue
        regex = _glob_regex(str(pattern))
        for entry in _entries(root):
            if entry.endswith("/") or not regex.match(entry):
                continue  # globby lists files only
            path = confine(root, entry)
            if os.path.lexists(path):
                os.remove(path)
                ctx.log(f"File {path} deleted successfully")


def debug_log(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    ctx.log(json.dumps(inputs, indent=2, ensure_ascii=False))
    if inputs.get("message"):
        ctx.log(ex.js_str(inputs["message"]))
    listing = inputs.get("listWorkspace")
    if listing:
        lines = []
        for here, dirs, files in os.walk(ctx.workspace):
            dirs.sort()
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(here, name), ctx.workspace)
                if listing == "with-contents":
                    with open(os.path.join(here, name), "rb") as handle:
                        body = handle.read(64 * 1024).decode("utf-8", errors="replace")
                    lines.append(f" - {rel}:\n\n  {body}")
                else:
                    lines.append(f"  - {rel}")
        ctx.log("Workspace:\n" + "\n".join(lines))


def catalog_write(inputs: Mapping[str, Any], ctx: ActionContext) -> None:
    entity = inputs.get("entity")
    if not isinstance(entity, Mapping):
        raise ActionError("catalog:write: input entity must be an object")
    path = str(inputs.get("filePath") or "catalog-info.yaml")
    ctx.log(f"Writing {path}")
    metadata = dict(entity.get("metadata") or {})
    if ctx.template_ref:
        annotations = dict(metadata.get("annotations") or {})
        annotations[SOURCE_TEMPLATE] = ctx.template_ref
        metadata["annotations"] = annotations
    doc = {**entity, "metadata": metadata}
    from bot.scaffold.v1beta3.yamlout import dump

    _write(confine(ctx.workspace, path), dump(doc))


Action = Callable[[Mapping[str, Any], ActionContext], None]

ACTIONS: Mapping[str, Action] = {
    "fetch:template": fetch_template,
    "fetch:template:file": fetch_template_file,
    "fetch:plain": fetch_plain,
    "fetch:plain:file": fetch_plain_file,
    "fetch:cookiecutter": fetch_cookiecutter,
    "fs:rename": fs_rename,
    "fs:delete": fs_delete,
    "debug:log": debug_log,
    "catalog:write": catalog_write,
}

# Done by Callboard's publisher after the run (recorded by the engine); in a dry run they are
# skipped with the example output Backstage's dry run gives them.
DEFERRED: Mapping[str, Mapping[str, Any]] = {
    "publish:github": {
        "remoteUrl": "<example>",
        "repoContentsUrl": "<example>",
        "commitHash": "<example>",
    },
    "publish:gitlab": {
        "remoteUrl": "<example>",
        "repoContentsUrl": "<example>",
        "projectId": 0,
        "commitHash": "<example>",
        "created": False,
    },
    "catalog:register": {},
}

# Opened by the bot while the run waits (their outputs exist only once the host's API has
# answered). In a dry run ``publish:github:pull-request`` gives Backstage's dry-run outputs;
# ``publish:gitlab:merge-request`` is skipped with example outputs, as Backstage's dry run does.
LIVE: tuple[str, ...] = ("publish:github:pull-request", "publish:gitlab:merge-request")
DRY_RUN_SKIPPED: Mapping[str, Mapping[str, Any]] = {
    **DEFERRED,
    "publish:gitlab:merge-request": {
        "projectid": "<example>",
        "projectPath": "<example>",
        "mergeRequestUrl": "<example>",
        "targetBranchName": "<example>",
    },
}

"""Rendering a template into a fresh temporary folder, in a child process without secrets.

The child (``render_worker.py``) gets an environment holding only ``PATH``, a locale, and a
``HOME``/``TMPDIR`` inside the job's folder: tokens in the bot's environment never reach a
template (or a trusted template's hooks), cookiecutter's replay files and clones stay in the
job's folder, and ``~/.cookiecutterrc`` is never read. An untrusted template (not listed in
``scaffold.trusted``: every catalog Template by default) is rendered in a Jinja sandbox
(``bot.scaffold.sandbox``), never by cookiecutter's unsandboxed engine; hooks run only for
trusted templates. Every output path is checked before anything is written. The bot is made
non-dumpable before the child starts (a same-user child cannot read ``/proc/<bot>/environ``),
and a bot running as root has the child drop to an unprivileged user (``RENDER_USER``) on a
copy of the template it owns. The output is checked before anything is published: no symbolic
links, bounded in files and bytes, and a ``catalog-info.yaml`` that describes the new
component (Callboard writes one when the template has none).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.catalog.validation import validate_entity
from bot.hardening import make_non_dumpable
from bot.scaffold import backstage
from bot.scaffold.model import Answers, Template

CATALOG_FILE = "catalog-info.yaml"
WRAPPER = "{{cookiecutter and 'contents'}}"  # Backstage's fetch:cookiecutter wrapper folder
WORKER = Path(__file__).with_name("render_worker.py")
RENDER_USER = "nobody"  # a bot running as root renders as this user (scaffold.render_user)
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")  # where RENDER_USER can reach a folder

log = logging.getLogger(__name__)


class RenderError(Exception):
    """Rendering failed; the message says why in words a chat user can act on."""


@dataclass(frozen=True)
class Rendered:
    """A rendered project on disk, checked and ready to publish."""

    project: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted
    size: int  # bytes
    catalog_written: bool  # Callboard wrote catalog-info.yaml (the template has none)


def render(
    template: Template,
    answers: Answers,
    work: Path,
    *,
    repo_value: str,
    timeout: float,
    max_files: int,
    max_bytes: int,
    render_user: str = RENDER_USER,
) -> Rendered:
    """Render ``template`` with ``answers`` under ``work`` (a fresh folder the caller removes)."""
    run_as = _render_user(render_user, trusted=template.trusted)
    area = work
    if run_as is not None and not _traversable(work):
        # The unprivileged child could not reach ``work`` (a private TMPDIR): it renders in a
        # folder of its own under a shared temporary directory, copied back afterwards.
        shared = next((d for d in SHARED_TMP if os.path.isdir(d) and _traversable(Path(d))), None)
        if shared is None:
            log.warning("no temporary folder reachable by %s; rendering as root", render_user)
            run_as = None
        else:
            area = Path(tempfile.mkdtemp(prefix="callboard-render-", dir=shared))
    try:
        project = _prepare_and_run(template, answers, area, repo_value, timeout, run_as)
        if area != work:
            (work / "out").mkdir(parents=True, exist_ok=True)
            shutil.copytree(area / "out", work / "out", symlinks=True, dirs_exist_ok=True)
            project = work / "out" / project.relative_to((area / "out").resolve())
    finally:
        if area != work:
            shutil.rmtree(area, ignore_errors=True)
    files, size = _inventory(project, max_files, max_bytes)
    written = _catalog_info(project, template, answers)
    if written:
        files = tuple(sorted({*files, CATALOG_FILE}))
    return Rendered(project, files, size, written)


def _prepare_and_run(
    template: Template,
    answers: Answers,
    work: Path,
    repo_value: str,
    timeout: float,
    run_as: tuple[int, int] | None,
) -> Path:
    for sub in ("home", "tmp", "replay", "cookiecutters", "out"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    if template.engine == "backstage":
        source, context = _backstage_template(template, answers, work, repo_value)
    else:
        # The child reads its own copy: one it may read once it runs as RENDER_USER.
        copy = work / "template" / template.root.name
        shutil.copytree(template.root, copy, symlinks=True)
        source, context = str(copy), dict(answers.context)
    accept_hooks = template.trusted and template.engine == "cookiecutter"
    patterns = dict(template.patterns) if template.engine == "cookiecutter" else {}
    return _run_worker(
        work,
        source,
        context,
        accept_hooks,
        timeout,
        patterns,
        sandboxed=not template.trusted,
        run_as=run_as,
    )


def _backstage_template(
    template: Template, answers: Answers, work: Path, repo_value: str
) -> tuple[str, dict[str, Any]]:
    recipe = template.backstage
    assert recipe is not None
    parameters: dict[str, Any] = dict(answers.context)
    for var in template.variables:
        if var.role == "name":
            parameters[var.name] = answers.name
        elif var.role == "owner":
            parameters[var.name] = str(answers.owner)
        elif var.role == "system":
            parameters[var.name] = str(answers.system) if answers.system else ""
        elif var.role == "repo":
            parameters[var.name] = repo_value
    values = backstage.evaluate(recipe.values, parameters)
    if not isinstance(values, dict):
        raise RenderError("the template's input.values is not an object")
    if recipe.copy_without_render:
        values["_copy_without_render"] = list(recipe.copy_without_render)
    if recipe.extensions:
        values["_extensions"] = list(recipe.extensions)
    wrapper = work / "template"
    target = wrapper / WRAPPER
    if recipe.target_path != ".":
        target = target / recipe.target_path
    shutil.copytree(template.root, target, symlinks=True)
    (wrapper / "cookiecutter.json").write_text(json.dumps(values, indent=2), encoding="utf-8")
    return str(wrapper), {}


def _run_worker(
    work: Path,
    source: str,
    context: Mapping[str, Any],
    accept_hooks: bool,
    timeout: float,
    patterns: Mapping[str, str] | None = None,
    *,
    sandboxed: bool = True,
    run_as: tuple[int, int] | None = None,
) -> Path:
    result_path = work / "result.json"
    request = {
        "template": source,
        "context": context,
        "output": str(work / "out"),
        "accept_hooks": accept_hooks,
        "replay_dir": str(work / "replay"),
        "cookiecutters_dir": str(work / "cookiecutters"),
        "result": str(result_path),
        "patterns": dict(patterns or {}),
        "sandbox": sandboxed,
        "run_as": list(run_as) if run_as else None,
    }
    # A same-user child must not read /proc/<this pid>/environ or /mem (idempotent; the CLI
    # does it at start too).
    make_non_dumpable()
    if run_as is not None:
        _chown_tree(work, *run_as)
    env = child_env(work)
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(WORKER)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            cwd=work / "tmp",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(
            f"the template took longer than {timeout:.0f} s to render and was stopped"
        ) from exc
    finally:
        if run_as is not None:
            # Back to the bot's own user: git refuses to publish a folder someone else owns.
            _chown_tree(work, os.getuid(), os.getgid())
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
        raise RenderError(
            f"the renderer stopped without a result (exit status {done.returncode})"
            + (f": {' / '.join(tail)}" if tail else "")
        ) from None
    if not result.get("ok"):
        message = str(result.get("message") or "unknown error")
        kind = str(result.get("error") or "")
        if kind == "FailedHookException":
            tail = _hook_output(done.stderr or "")[-3:]
            detail = f" ({' / '.join(tail)})" if tail else ""
            raise RenderError(f"a hook of the template failed: {message}{detail}")
        if kind in ("DerivedValue", "SandboxError"):
            raise RenderError(message)
        if kind == "MemoryError":
            raise RenderError("the template needs more memory than a render may use; stopped")
        if kind == "UndefinedVariableInTemplate":
            raise RenderError(f"the template uses a variable it does not define: {message}")
        if kind == "OutputDirExistsException":
            raise RenderError(f"the output folder already exists: {message}")
        raise RenderError(f"{kind}: {message}" if kind else message)
    project = Path(str(result["project"])).resolve()
    if not project.is_relative_to((work / "out").resolve()) or not project.is_dir():
        raise RenderError(f"the template wrote its project outside the job folder ({project})")
    return project


def _render_user(name: str, *, trusted: bool) -> tuple[int, int] | None:
    """The (uid, gid) the child drops to, when the bot runs as root; else None.

    An untrusted template is rendered in-process by the child after the drop, so it always
    works. A trusted template's hooks start the interpreter again, which must be reachable by
    that user; when it is not (a Python under /root), the render stays root, with a warning.
    """
    if not hasattr(os, "getuid") or os.getuid() != 0:
        return None
    import pwd

    try:
        user = pwd.getpwnam(name)
        ids = (user.pw_uid, user.pw_gid)
    except KeyError:
        if name != RENDER_USER:
            raise RenderError(
                f"scaffold.render_user {name} is not a user on this machine"
            ) from None
        ids = (65534, 65534)
    if ids[0] == 0:
        raise RenderError(f"scaffold.render_user {name} is root; refusing to render as root")
    if trusted and not _reachable_by_others(Path(sys.executable).resolve()):
        log.warning(
            "rendering a trusted template as root: %s is not readable by %s, so its hooks "
            "could not run as that user",
            sys.executable,
            name,
        )
        return None
    return ids


def _traversable(folder: Path) -> bool:
    """Every folder above ``folder`` lets other users through."""
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in folder.resolve().parents)


def _reachable_by_others(path: Path) -> bool:
    for folder in path.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IXOTH and mode & stat.S_IROTH)


def child_env(work: Path) -> dict[str, str]:
    """The whole environment of a render child: no variable of the bot's (tokens) reaches it."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _hook_output(stderr: str) -> list[str]:
    """What a failed hook wrote to stderr, without cookiecutter's traceback that follows it
    (whose last lines would otherwise hide the hook's own reason)."""
    lines = stderr.strip().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Stopping generation because", "Traceback (most recent call last)")):
            return lines[:i] or lines
    return lines


def _inventory(project: Path, max_files: int, max_bytes: int) -> tuple[tuple[str, ...], int]:
    files: list[str] = []
    size = 0
    for dirpath, dirnames, filenames in os.walk(project):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            if name == ".git":
                # A .git folder or file in the output would configure the git commands that
                # publish it (hooks, fsmonitor): a template must never ship one.
                rel = path.relative_to(project).as_posix()
                raise RenderError(
                    f"the template produced {rel}; refused (git metadata in a "
                    "template would run as code when publishing)"
                )
            if path.is_symlink():
                rel = path.relative_to(project).as_posix()
                raise RenderError(f"the template produced a symbolic link ({rel}); refused")
        for name in filenames:
            path = base / name
            files.append(path.relative_to(project).as_posix())
            size += path.stat().st_size
            if len(files) > max_files:
                raise RenderError(
                    f"the template produced more than {max_files} files; refused "
                    "(scaffold.max_files)"
                )
            if size > max_bytes:
                raise RenderError(
                    f"the template produced more than {max_bytes // 2**20} MB; "
                    "refused (scaffold.max_output_mb)"
                )
    if not files:
        raise RenderError("the template produced no files")
    return tuple(sorted(files)), size


def _catalog_info(project: Path, template: Template, answers: Answers) -> bool:
    """Check the project's catalog-info.yaml names the new component; write one if absent."""
    path = project / CATALOG_FILE
    if not path.exists():
        path.write_text(_default_catalog_info(template, answers), encoding="utf-8")
        return True
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RenderError(f"the rendered {CATALOG_FILE} is not valid YAML: {exc}") from None
    names: list[str] = []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise RenderError(
                f"document {index + 1} of the rendered {CATALOG_FILE} is not a mapping"
            )
        problems = validate_entity(doc)
        if problems:
            raise RenderError(f"the rendered {CATALOG_FILE} is not a valid entity: {problems[0]}")
        meta = doc.get("metadata") or {}
        names.append(f"{doc.get('kind')}:{meta.get('name')}")
        if str(meta.get("name", "")).lower() == answers.name.lower():
            return False
    raise RenderError(
        f"the rendered {CATALOG_FILE} describes {', '.join(names) or 'nothing'}, not the new "
        f"component {answers.name}; nothing was published"
    )


def _default_catalog_info(template: Template, answers: Answers) -> str:
    description = answers.context.get("description")
    metadata: dict[str, Any] = {"name": answers.name}
    if isinstance(description, str) and description:
        metadata["description"] = description
    spec: dict[str, Any] = {
        "type": template.spec_type,
        "lifecycle": "experimental",
        "owner": str(answers.owner),
    }
    if answers.system:
        spec["system"] = str(answers.system)
    doc = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": metadata,
        "spec": spec,
    }
    return (
        f"# Written by Callboard: the template {template.name} has no {CATALOG_FILE}.\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    )

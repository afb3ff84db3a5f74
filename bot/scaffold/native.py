"""Running a v1beta3 Template on the native engine, in the render child, and reading the result.

The bot builds the run's parameters from validated answers (values are data, never template
source), copies the template's folder into the job folder, and starts the render child
(``render_worker.py``, the same process, environment, privilege drop and limits as every
other render) with ``"engine": "v1beta3"``. The child runs the steps
(``bot.scaffold.v1beta3.engine``) and writes the workspace; back here the workspace is checked
(no links, no git metadata, bounded files and bytes) before anything is published.

What a template's ``publish:github``/``publish:gitlab`` step would publish comes back as a
snapshot of the workspace (or its ``sourcePath``) taken at that step; Callboard's publisher
pushes it to the configured remote, and ``catalog:register`` registers the result. A step
skipped by its ``if:`` publishes or registers nothing.

A ``publish:github:pull-request`` or ``publish:gitlab:merge-request`` step is opened while the
child waits: the child hands over the step's rendered input and the folder it proposes, the
bot copies that folder out of the child's reach, checks it like any output, opens the request
(``on_live``, in this worker thread) and answers with the request's outputs, which the child
renders into later steps and ``output``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.hardening import make_non_dumpable
from bot.scaffold.model import Answers, Template
from bot.scaffold.render import (
    RENDER_USER,
    SHARED_TMP,
    WORKER,
    RenderError,
    _chown_tree,
    _inventory,
    _render_user,
    _traversable,
    child_env,
)

MAX_EACH = 100  # items one ``each:`` may run
MAX_REQUESTS = 10  # pull/merge requests one run may open
LOG_LINES = 40  # log lines kept per step for replies


@dataclass(frozen=True)
class StepReport:
    """One template step as it ran: ``completed``, ``skipped`` or ``failed``."""

    id: str
    name: str
    action: str
    status: str
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deferred:
    """A publish or registration step the run asked for, done by Callboard afterwards."""

    step: str
    action: str
    input: Mapping[str, Any]
    snapshot: Path | None = None  # what a publish step would publish
    files: tuple[str, ...] = ()  # the snapshot's files


@dataclass(frozen=True)
class LiveRequest:
    """A pull or merge request step, as the child asked for it: ``files`` is a checked copy of
    the folder it proposes (owned by the bot, removed after ``on_live`` returns)."""

    step: str
    action: str
    input: Mapping[str, Any]
    files: Path


OnLive = Callable[[LiveRequest], tuple[Mapping[str, Any], list[str]]]


class LiveError(Exception):
    """Opening a request failed; the message (no secrets) becomes the step's failure."""

    def __init__(self, message: str, log: list[str] | None = None) -> None:
        super().__init__(message)
        self.log = log or []


@dataclass(frozen=True)
class NativeRun:
    """The result of a native run: steps, the workspace's files, the template's output."""

    ok: bool
    steps: tuple[StepReport, ...]
    workspace: Path
    files: tuple[str, ...]
    size: int
    output: Mapping[str, Any]
    deferred: tuple[Deferred, ...] = ()
    error: str | None = None
    failed_step: str | None = None

    @property
    def publish(self) -> Deferred | None:
        return next((d for d in self.deferred if d.action.startswith("publish:")), None)

    @property
    def register(self) -> Deferred | None:
        return next((d for d in self.deferred if d.action == "catalog:register"), None)

    def links(self) -> list[tuple[str, str]]:
        """``output.links`` that are URLs, as (title, url)."""
        out = []
        for item in self.output.get("links") or ():
            if isinstance(item, Mapping) and isinstance(item.get("url"), str) and item["url"]:
                out.append((str(item.get("title") or item["url"]), str(item["url"])))
        return out

    def entity_links(self) -> list[tuple[str, str]]:
        """``output.links`` that name a catalog entity (``entityRef``), as (title, ref)."""
        out = []
        for item in self.output.get("links") or ():
            if isinstance(item, Mapping) and not item.get("url"):
                ref = item.get("entityRef")
                if isinstance(ref, str) and ref:
                    out.append((str(item.get("title") or ref), ref))
        return out

    def texts(self) -> list[tuple[str, str]]:
        out = []
        for item in self.output.get("text") or ():
            if isinstance(item, Mapping) and isinstance(item.get("content"), str):
                out.append((str(item.get("title") or "Output"), str(item["content"])))
        return out


def parameters_for(
    template: Template, answers: Answers, repo_value: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The run's ``parameters``: the validated answers under the template's own names, then
    any JSON values given as such (``--values``) for fields the dialog does not ask."""
    parameters: dict[str, Any] = dict(extra or {})
    # A ui:field Secret goes to ``secrets`` only, as in Backstage; a password widget's value
    # is a parameter (kept out of messages and the audit log all the same).
    secrets = {v.name for v in template.variables if v.secret and v.shown_as == "Secret"}
    parameters.update({k: v for k, v in answers.context.items() if k not in secrets})
    for var in template.variables:
        if var.hidden and var.fixed is not None and var.name not in parameters:
            parameters[var.name] = var.fixed  # ui:widget hidden: its default, as Backstage's form
        elif var.role == "name":
            parameters[var.name] = answers.name
        elif var.role == "owner":
            parameters[var.name] = str(answers.owner)
        elif var.role == "system" and answers.system is not None:
            parameters[var.name] = str(answers.system)
        elif var.role == "repo" and not parameters.get(var.name):
            parameters[var.name] = repo_value  # else a dry run's --values gave one
    return parameters


def secrets_for(template: Template, answers: Answers) -> dict[str, str]:
    """The run's ``secrets``: the values of ``ui:field: Secret`` fields."""
    names = [v.name for v in template.variables if v.secret and v.shown_as == "Secret"]
    return {k: str(answers.context[k]) for k in names if k in answers.context}


def run_native(
    template: Template,
    parameters: Mapping[str, Any],
    work: Path,
    *,
    dry_run: bool,
    timeout: float,
    max_files: int,
    max_bytes: int,
    secrets: Mapping[str, str] | None = None,
    user: Mapping[str, Any] | None = None,
    predicted: Mapping[str, Any] | None = None,
    integrations: Mapping[str, str] | None = None,
    render_user: str = RENDER_USER,
    on_step: Callable[[str], None] | None = None,
    on_live: OnLive | None = None,
) -> NativeRun:
    """Run ``template``'s steps in the render child under ``work`` (which the caller removes);
    ``on_step`` hears each step's name as the child begins it; ``on_live`` opens a pull or
    merge request step (its outputs and log lines, or ``LiveError``)."""
    recipe = template.native
    if recipe is None:
        raise RenderError(f"{template.name} is not a template the native engine runs")
    run_as = _render_user(render_user, trusted=False)
    area = work
    if run_as is not None and not _traversable(work):
        shared = next((d for d in SHARED_TMP if os.path.isdir(d) and _traversable(Path(d))), None)
        if shared is None:
            run_as = None
        else:
            area = Path(tempfile.mkdtemp(prefix="callboard-render-", dir=shared))
    try:
        result = _child(
            area,
            recipe.folder,
            {
                "template": dict(recipe.document),
                "template_ref": recipe.ref,
                "parameters": dict(parameters),
                "secrets": dict(secrets or {}),
                "user": dict(user or {}),
                "dry_run": dry_run,
                "integrations": dict(integrations or {}),
                "publish_outputs": dict(predicted or {}),
                "max_files": max_files,
                "max_each": MAX_EACH,
            },
            timeout,
            run_as,
            on_step,
            _answerer(on_live, area, max_files, max_bytes, recipe.document),
        )
        if area != work:
            shutil.copytree(area / "job", work / "job", symlinks=True, dirs_exist_ok=True)
    finally:
        if area != work:
            shutil.rmtree(area, ignore_errors=True)
    workspace = work / "job" / "workspace"
    steps = tuple(
        StepReport(
            str(s.get("id")),
            str(s.get("name")),
            str(s.get("action")),
            str(s.get("status") or "failed"),
            tuple(str(line) for line in (s.get("log") or ())[-LOG_LINES:]),
        )
        for s in result.get("steps") or ()
    )
    deferred = tuple(
        Deferred(
            str(d.get("id")),
            str(d.get("action")),
            dict(d.get("input") or {}),
            _moved(d.get("snapshot"), area, work),
        )
        for d in result.get("deferred") or ()
    )
    files: tuple[str, ...] = ()
    size = 0
    if workspace.is_dir() and any(workspace.iterdir()):
        files, size = _inventory(workspace, max_files, max_bytes)
    checked = []
    for item in deferred:
        if item.snapshot is not None and item.snapshot.is_dir():
            # the same checks for what is pushed
            item = replace(item, files=_inventory(item.snapshot, max_files, max_bytes)[0])
        checked.append(item)
    deferred = tuple(checked)
    return NativeRun(
        ok=bool(result.get("ok")),
        steps=steps,
        workspace=workspace,
        files=files,
        size=size,
        output=result.get("output") or {},
        deferred=deferred,
        error=result.get("error"),
        failed_step=result.get("failed_step"),
    )


def _moved(snapshot: Any, area: Path, work: Path) -> Path | None:
    if not isinstance(snapshot, str):
        return None
    path = Path(snapshot)
    if area != work and path.is_relative_to(area):
        path = work / path.relative_to(area)
    resolved = path.resolve()
    if not resolved.is_relative_to((work / "job").resolve()):
        raise RenderError(f"the run wrote outside its job folder ({snapshot})")
    return resolved


def _answerer(
    on_live: OnLive | None,
    area: Path,
    max_files: int,
    max_bytes: int,
    document: Mapping[str, Any],
) -> Callable[[Any], dict[str, Any]]:
    """What answers the child's ``{"live": ...}`` lines: checks what it asks (a pull/merge
    request step of the template, a folder in its workspace), copies the folder out of the
    child's reach, checks the copy, and calls ``on_live``."""
    from bot.scaffold.v1beta3.actions import LIVE

    steps = {  # the ids the engine gives them
        str(s.get("id") or f"step-{i}"): str(s.get("action"))
        for i, s in enumerate((document.get("spec") or {}).get("steps") or ())
        if isinstance(s, Mapping)
    }
    workspace = (area / "job" / "workspace").resolve()
    asked = [0]

    def answer(ask: Any) -> dict[str, Any]:
        if on_live is None:
            return {"error": "this run cannot open pull or merge requests"}
        asked[0] += 1
        if asked[0] > MAX_REQUESTS:
            return {"error": f"a run opens at most {MAX_REQUESTS} pull or merge requests"}
        if not isinstance(ask, Mapping):
            return {"error": "a malformed request from the render child"}
        step, action, inputs = ask.get("step"), ask.get("action"), ask.get("input")
        source = Path(str(ask.get("source") or "")).resolve()
        if (
            action not in LIVE
            or steps.get(str(step)) != action
            or not isinstance(inputs, Mapping)
            or not source.is_relative_to(workspace)
            or not source.is_dir()
        ):
            return {"error": "a malformed request from the render child"}
        with tempfile.TemporaryDirectory(prefix="callboard-request-") as tmp:
            files = Path(tmp) / "files"
            try:
                shutil.copytree(source, files, symlinks=True)
                _inventory(files, max_files, max_bytes)
                outputs, log = on_live(LiveRequest(str(step), str(action), dict(inputs), files))
            except (RenderError, LiveError) as exc:
                return {"error": str(exc), "log": list(getattr(exc, "log", []))}
            except OSError as exc:
                return {"error": f"cannot copy the files to propose: {exc.strerror}"}
        return {"output": dict(outputs), "log": list(log)}

    return answer


def _child(
    work: Path,
    folder: Path,
    run: dict[str, Any],
    timeout: float,
    run_as: tuple[int, int] | None,
    on_step: Callable[[str], None] | None = None,
    answer: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    for sub in ("home", "tmp", "job"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    copy = work / "template"
    # The child reads its own copy (one it may read once it runs as RENDER_USER).
    shutil.copytree(folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    result_path = work / "result.json"
    run.update(template_dir=str(copy), workspace=str(work / "job" / "workspace"))
    request = {
        "engine": "v1beta3",
        "run": run,
        "result": str(result_path),
        "sandbox": True,
        "run_as": list(run_as) if run_as else None,
    }
    make_non_dumpable()
    if run_as is not None:
        _chown_tree(work, *run_as)
    env = child_env(work)
    errors = work / "stderr.txt"
    timed_out = threading.Event()
    try:
        with open(errors, "w+", encoding="utf-8", errors="replace") as stderr:
            with subprocess.Popen(
                [sys.executable, "-I", str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=work / "tmp",
            ) as child:

                def stop() -> None:
                    timed_out.set()
                    child.kill()

                watchdog = threading.Timer(timeout, stop)
                watchdog.start()
                try:
                    assert child.stdin is not None and child.stdout is not None
                    child.stdin.write(json.dumps(request) + "\n")
                    child.stdin.flush()
                    for line in child.stdout:  # each step as the child begins it
                        reply = _heard(line, on_step, answer)
                        if reply is not None:  # a pull/merge request opened: the answer
                            try:
                                child.stdin.write(json.dumps(reply) + "\n")
                                child.stdin.flush()
                            except OSError:  # the child is gone (stopped at the limit)
                                break
                    with contextlib.suppress(OSError):
                        child.stdin.close()
                    code = child.wait()
                finally:
                    watchdog.cancel()
                    if child.poll() is None:
                        child.kill()
                        child.wait()
            stderr.seek(0)
            err_text = stderr.read()[-4000:]
    finally:
        if run_as is not None:
            _chown_tree(work, os.getuid(), os.getgid())
    if timed_out.is_set():
        raise RenderError(f"the template took longer than {timeout:.0f} s to run and was stopped")
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = err_text.strip().splitlines()[-3:]
        raise RenderError(
            f"the renderer stopped without a result (exit status {code})"
            + (f": {' / '.join(tail)}" if tail else "")
        ) from None
    if not result.get("ok"):
        kind = str(result.get("error") or "")
        if kind == "MemoryError":
            raise RenderError("the template needs more memory than a render may use; stopped")
        message = str(result.get("message"))
        raise RenderError(f"{kind}: {message}" if kind else message)
    run_result = result.get("run")
    if not isinstance(run_result, dict):
        raise RenderError("the renderer returned no run")
    return run_result


def _heard(
    line: str,
    on_step: Callable[[str], None] | None,
    answer: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """One line the child printed: a step beginning, or a request to open (its answer);
    anything else is ignored."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "live" in data:
        return answer(data["live"]) if answer is not None else {"error": "no requests here"}
    if on_step is not None and isinstance(data.get("step"), str):
        on_step(data["step"][:200])
    return None


def write_output(run: NativeRun, output: Path) -> list[str]:
    """Copy the files the run would publish (the publish step's snapshot, else the whole
    workspace) into ``output``, which must not exist or be empty; the files written."""
    source = run.publish.snapshot if run.publish and run.publish.snapshot else run.workspace
    if output.exists() and any(output.iterdir()):
        raise RenderError(f"{output} is not empty; give a new or empty folder")
    output.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, output, dirs_exist_ok=True)
    return sorted(
        os.path.relpath(os.path.join(here, name), output)
        for here, _dirs, names in os.walk(output)
        for name in names
    )

"""A Template run on the team's Backstage: its form, a task followed step by step, the reply.

``remote_form`` gives the template the form Backstage serves (its parameter schema), which is
what the dialog shows and what the answers are checked against. ``RemoteJob`` (blocking, from a
worker thread) creates the task and follows its events, or asks for a dry run with the
template's files. ``remote_reply`` turns what happened into the chat reply: each step's
status, the output's links and text, and the log lines of a step that failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.catalog.model import EntityRef
from bot.chat import Button, Link, Reply, Section
from bot.errors import CatalogError, UserError
from bot.scaffold.model import Template
from bot.scaffold.remote import (
    RemoteError,
    RemoteStep,
    ScaffolderClient,
    TaskResult,
    entity_ref,
    steps_of,
    template_files,
)
from bot.scaffold.v1beta3 import support
from bot.scaffold.variables import backstage_variables

FILES_SHOWN = 25
LOG_SHOWN = 10  # log lines of a failed step in the reply
_MARK = {"completed": "✓", "skipped": "–", "failed": "✗", "processing": "…"}


async def remote_form(template: Template, client: ScaffolderClient) -> Template:
    """``template`` with the form Backstage serves for it now (``parameter-schema``)."""
    assert template.remote is not None
    ref = entity_ref(template.remote.ref)
    try:
        schema = await asyncio.to_thread(client.parameter_schema, ref)
    except RemoteError as exc:
        raise UserError(
            f"The template {template.name} cannot be used: Backstage did not give its form: {exc}"
        ) from None
    pages = [s.get("schema") for s in schema["steps"] if isinstance(s, Mapping)]
    form = backstage_variables(pages)
    if form.problems:
        raise UserError(f"The template {template.name} cannot be used: {form.problems[0]}")
    digest = hashlib.sha256(
        (template.digest + json.dumps(pages, sort_keys=True, default=str)).encode()
    ).hexdigest()[:16]
    return replace(template, variables=form.variables, digest=digest, unasked=form.unasked)


@dataclass(frozen=True)
class RemoteJob:
    """One run or dry run of ``template`` on its Backstage (blocking methods)."""

    client: ScaffolderClient
    template: Template
    parameters: Mapping[str, Any]
    secrets: Mapping[str, str]
    seconds: float  # the whole task's time (scaffold.timeout_seconds)
    max_bytes: int  # what a dry run may send and receive (scaffold.max_output_mb)

    @property
    def document(self) -> Mapping[str, Any]:
        assert self.template.remote is not None
        return self.template.remote.document

    def run(self, on_line: Callable[[str], None]) -> TaskResult:
        """Create the task and follow it; ``on_line`` hears a progress line per step change."""
        assert self.template.remote is not None
        result = TaskResult(steps_of(self.document))
        try:
            task_id = self.client.create_task(
                entity_ref(self.template.remote.ref), self.parameters, self.secrets
            )
            on_line(f"task {task_id} started on Backstage…")
            self.client.follow(
                task_id,
                result,
                lambda step: on_line(progress_line(step)),
                seconds=self.seconds,
            )
        except RemoteError as exc:
            result.status, result.error = "failed", str(exc)
        return result

    def dry_run(self) -> TaskResult:
        """Backstage's dry run, with the template's files when Callboard can read them."""
        recipe = self.template.remote
        assert recipe is not None
        result = TaskResult(steps_of(self.document))
        try:
            contents: list[dict[str, str]] = []
            spec = self.document.get("spec")
            relative = support.skeleton_urls(spec if isinstance(spec, Mapping) else {})
            if recipe.folder is not None:
                contents = template_files(recipe.folder, recipe.file, self.max_bytes)
            elif relative:
                raise RemoteError(
                    f"a dry run sends the template's files (its skeleton {relative[0]} is "
                    "next to it), and Callboard cannot read them: the template's file: location "
                    "must be inside a scaffold.templates directory"
                )
            return self.client.dry_run(
                self.document, self.parameters, self.secrets, contents, limit=self.max_bytes * 2
            )
        except RemoteError as exc:
            result.status, result.error = "failed", str(exc)
            return result


def progress_line(step: RemoteStep) -> str:
    """The progress message's line for a step that began or ended."""
    if step.status == "processing":
        return f"{step.name}…"
    if step.status == "failed":
        last = step.log[-1] if step.log else ""
        return f"✗ {step.name} failed" + (f": {last}" if last else "")
    return f"{_MARK.get(step.status, '–')} {step.name}: {step.status}"


def reason(result: TaskResult) -> str:
    failed = result.failed_step
    if failed is not None:
        return (
            f"step {failed.name} failed: {result.error or (failed.log[-1] if failed.log else '')}"
        )
    return result.error or f"the task ended with status {result.status}"


def remote_reply(
    result: TaskResult,
    template: Template,
    name: str,
    *,
    dry_run: bool,
    notes: list[str],
    describe: bool,
    secrets: tuple[str, ...] = (),
) -> Reply:
    """The reply for a run or dry run on Backstage."""
    where = f"task {result.task_id}" if result.task_id else "a dry run"
    steps = Section(
        title="Steps on Backstage",
        items=tuple(
            f"{_MARK.get(s.status, '–')} {s.name} ({s.action}): {s.status}" for s in result.steps
        )
        or ("no step reported",),
    )
    texts = tuple(Section(title=t, items=(c,)) for t, c in _texts(result.output))
    links = tuple(Link(t, u) for t, u in _links(result.output))
    buttons = (
        tuple(Button(t, command=f"/describe {ref}") for t, ref in _entity_links(result.output))
        if describe
        else ()
    )
    if not result.ok:
        failed = result.failed_step
        sections = [steps]
        if failed is not None and failed.log:
            shown = [_hide(line, secrets) for line in failed.log[-LOG_SHOWN:]]
            sections.append(Section(title=f"Log of {failed.name}", items=tuple(shown)))
        return Reply(
            title=f"Scaffolding {name} on Backstage failed",
            text=f"{template.title} failed on Backstage ({where}): "
            + _hide(reason(result), secrets),
            sections=tuple(sections),
            notes=tuple(notes),
            error=True,
        )
    if dry_run:
        files = sorted(result.files)
        shown_files = files[:FILES_SHOWN] + (
            [f"… and {len(files) - FILES_SHOWN} more"] if len(files) > FILES_SHOWN else []
        )
        return Reply(
            title=f"Dry run on Backstage: {name} from {template.name}",
            text=(
                f"Backstage's dry run of {template.title} would write {len(files)} files for "
                f"{name}. Nothing was published."
            ),
            sections=(
                steps,
                Section(title=f"Files ({len(files)})", items=tuple(shown_files)),
                *texts,
            ),
            links=links,
            notes=tuple(notes),
        )
    return Reply(
        title=f"Ran {template.title} on Backstage for {name}",
        text=f"{template.title} ran on Backstage ({where}) for {name}.",
        sections=(steps, *texts),
        links=links,
        buttons=buttons,
        notes=tuple(notes),
        ephemeral=False,
    )


def _hide(text: str, secrets: tuple[str, ...]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "•••")
    return text


def _links(output: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for item in output.get("links") or ():
        if isinstance(item, Mapping) and isinstance(item.get("url"), str) and item["url"]:
            out.append((str(item.get("title") or item["url"]), str(item["url"])))
    return out


def _entity_links(output: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``entityRef`` links as (title, ref): only real refs become a command's argument."""
    out = []
    for item in output.get("links") or ():
        if isinstance(item, Mapping) and not item.get("url"):
            text = item.get("entityRef")
            try:
                ref = EntityRef.parse(text) if isinstance(text, str) else None
            except CatalogError:
                ref = None
            if ref is not None and " " not in str(ref):
                out.append((str(item.get("title") or ref), str(ref)))
    return out


def _texts(output: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for item in output.get("text") or ():
        if isinstance(item, Mapping) and isinstance(item.get("content"), str):
            out.append((str(item.get("title") or "Output"), str(item["content"])))
    return out


def write_files(files: Mapping[str, tuple[bytes, bool]], output: Path) -> list[str]:
    """Write a dry run's files into ``output`` (new or empty); every path stays inside it."""
    if output.exists() and any(output.iterdir()):
        raise RemoteError(f"{output} is not empty; give a new or empty folder")
    output.mkdir(parents=True, exist_ok=True)
    root = output.resolve()
    for rel, (data, executable) in sorted(files.items()):
        dest = (root / rel).resolve()
        if not dest.is_relative_to(root) or dest == root:
            raise RemoteError(f"the dry run sent a file outside its workspace: {rel[:100]!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        os.chmod(dest, 0o755 if executable else 0o644)
    return sorted(files)

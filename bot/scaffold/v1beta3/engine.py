"""The workflow of a v1beta3 Template, run as Backstage's ``NunjucksWorkflowRunner`` runs it.

``run(request)`` executes ``spec.steps`` in order in a fresh workspace folder:

- a step's ``if:`` (``false``, or a string whose value is falsy by Backstage's rule: an empty
  list is false) skips it; with ``each:`` the condition is asked per item;
- ``each:`` (a list or an object, at most ``max_each`` items) runs the action once per item
  with ``each.key``/``each.value`` in the context (list keys are strings, as in JavaScript);
  the step's outputs become lists;
- inputs are rendered leaf by leaf (``expressions.render_tree``) with ``parameters``,
  ``steps.<id>.output``, ``user.entity``/``user.ref``, ``secrets``, ``each`` and
  ``context.task.id``;
- publishing and registration actions are recorded with their rendered input (and, for a
  publish, a copy of what it would publish) for Callboard's publisher to do after the run; in
  a dry run they are skipped with Backstage's example outputs;
- a pull or merge request step (``actions.LIVE``) is handed to the bot as it runs (``live``:
  the rendered input and the folder to propose) and the run waits for its answer, so that
  later steps and ``output`` see the request's real URL and number;
- ``spec.output`` is rendered at the end; ``links``/``text`` items with a false ``if`` drop.

The request and the result are JSON (the render child's protocol). Only the standard library,
jinja2 and Callboard's sandbox modules are imported.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from bot.scaffold.v1beta3 import actions as act
from bot.scaffold.v1beta3 import expressions as ex

PUBLISH_ACTIONS = ("publish:github", "publish:gitlab")
REGISTER_ACTION = "catalog:register"


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


Live = Callable[[dict[str, Any]], Mapping[str, Any]]


def run(
    request: Mapping[str, Any],
    on_step: Callable[[str], None] | None = None,
    live: Live | None = None,
) -> dict[str, Any]:
    """Run the template's steps; the result says what each step did and the output.
    ``on_step`` hears each step's name as it begins (for the chat's progress line); ``live``
    opens a pull or merge request and answers ``{"output": {...}}`` or ``{"error": "..."}``."""
    template = request["template"]
    spec = template.get("spec") or {}
    workspace = str(request["workspace"])
    os.makedirs(workspace, exist_ok=True)
    dry_run = bool(request.get("dry_run"))
    integrations = dict(request.get("integrations") or {})
    env = ex.environment(integrations=integrations)
    max_each = int(request.get("max_each") or 100)
    secrets = dict(request.get("secrets") or {})
    predicted: Mapping[str, Any] = request.get("publish_outputs") or {}
    task_id = str(request.get("task_id") or uuid.uuid4())
    context: dict[str, Any] = {
        "parameters": dict(request.get("parameters") or {}),
        "environment": {"parameters": {}, "secrets": {}},
        "steps": {},
        "user": dict(request.get("user") or {}),
        "context": {"task": {"id": task_id}},
    }
    steps_out: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    log: list[str] = []
    raw_steps = spec.get("steps") or []
    log.append(f"Starting up task with {len(raw_steps)} steps")
    result: dict[str, Any] = {"steps": steps_out, "deferred": deferred, "log": log}

    def render(value: Any, ctx: Mapping[str, Any], lines: list[str]) -> Any:
        def failed(source: str, why: str) -> None:
            lines.append(f"Failed to render {source[:200]}: {why}")

        return ex.render_tree(env, value, ctx, failed)

    for index, step in enumerate(raw_steps):
        if not isinstance(step, Mapping):
            continue
        step_id = str(step.get("id") or f"step-{index}")
        action_id = str(step.get("action") or "")
        name = str(step.get("name") or action_id)
        lines: list[str] = []
        record: dict[str, Any] = {"id": step_id, "name": name, "action": action_id, "log": lines}
        steps_out.append(record)
        lines.append(f"Beginning step {name}")
        if on_step is not None:
            on_step(name)
        try:
            condition = step.get("if")
            has_each = step.get("each") is not None
            if condition is False or (
                isinstance(condition, str)
                and not has_each
                and not ex.is_truthy(_undrop(render(condition, context, lines)))
            ):
                lines.append(f"Skipping step {step_id} because its if condition was false")
                record["status"] = "skipped"
                continue
            handler = act.ACTIONS.get(action_id)
            if handler is None and action_id not in act.DEFERRED and action_id not in act.LIVE:
                raise StepFailed(
                    step_id, f"Template action with ID '{action_id}' is not registered."
                )
            full = {**context, "secrets": secrets}
            if dry_run:
                shown = render(
                    step.get("input") or {}, {**context, "secrets": {k: "***" for k in secrets}}, []
                )
                lines.append(
                    f"Running {action_id} in dry-run mode with inputs (secrets redacted): "
                    f"{json.dumps(shown, indent=2, ensure_ascii=False)}"
                )
                if handler is None and action_id in act.DRY_RUN_SKIPPED:
                    lines.append(f"Skipping because {action_id} does not support dry-run")
                    context["steps"][step_id] = {"output": dict(act.DRY_RUN_SKIPPED[action_id])}
                    record["status"] = "skipped"
                    continue
            iterations: list[dict[str, Any]] = [{}]
            if has_each:
                each = _undrop(render(step["each"], full, lines))
                if each is None and not isinstance(step["each"], (list, dict)):
                    raise StepFailed(
                        step_id,
                        f'Invalid value on action {action_id}.each parameter, "{step["each"]}" '
                        "cannot be resolved to a value",
                    )
                if isinstance(each, list):
                    pairs = [(str(i), v) for i, v in enumerate(each)]
                elif isinstance(each, Mapping):
                    pairs = [(str(k), v) for k, v in each.items()]
                else:
                    raise StepFailed(
                        step_id,
                        f"Invalid value on action {action_id}.each parameter, must resolve to "
                        "an array or object",
                    )
                if len(pairs) > max_each:
                    raise StepFailed(
                        step_id, f"each: resolves to {len(pairs)} items; at most {max_each} run"
                    )
                iterations = [{"each": {"key": k, "value": v}} for k, v in pairs]
            planned = []
            for item in iterations:
                ctx_i = {**full, **item}
                run_it = (
                    "each" not in item
                    or not condition
                    or ex.is_truthy(_undrop(render(condition, ctx_i, lines)))
                )
                planned.append((item, run_it, render(step.get("input") or {}, ctx_i, lines)))
            outputs: dict[str, Any] = {}
            for item, run_it, inputs in planned:
                shown_each = (
                    json.dumps({k: ex.js_str(v) for k, v in item["each"].items()}) if item else ""
                )
                if item and not run_it:
                    lines.append(f"Skipping step each: {shown_each}")
                    continue
                if item:
                    lines.append(f"Running step each: {shown_each}")
                if not isinstance(inputs, Mapping):
                    raise StepFailed(step_id, f"the input of {action_id} is not an object")
                if action_id in act.LIVE:
                    outs = _live(action_id, step_id, inputs, workspace, dry_run, live, lines)
                elif handler is None:
                    outs = _defer(action_id, step_id, inputs, workspace, predicted, deferred, item)
                else:
                    actx = act.ActionContext(
                        workspace=workspace,
                        template_dir=str(request["template_dir"]),
                        template_ref=str(request.get("template_ref") or ""),
                        integrations=integrations,
                        max_files=int(request.get("max_files") or 1000),
                        log=lines.append,
                    )
                    try:
                        handler(inputs, actx)
                    except act.ActionError as exc:
                        raise StepFailed(step_id, str(exc)) from None
                    except OSError as exc:
                        raise StepFailed(step_id, f"{type(exc).__name__}: {exc}") from None
                    outs = actx.outputs
                for key, value in outs.items():
                    if has_each:
                        outputs.setdefault(key, []).append(value)
                    else:
                        outputs[key] = value
            context["steps"][step_id] = {"output": outputs}
            lines.append(f"Finished step {name}")
            record["status"] = "completed"
        except StepFailed as exc:
            record["status"] = "failed"
            lines.append(str(exc))
            result.update(ok=False, failed_step=step_id, error=str(exc))
            return result
    output = render(spec.get("output") or {}, context, log)
    if isinstance(output, dict):
        for key in ("links", "text"):
            if isinstance(output.get(key), list):
                output[key] = [
                    {k: v for k, v in item.items() if k != "if"}
                    if isinstance(item, Mapping)
                    else item
                    for item in output[key]
                    if not (
                        isinstance(item, Mapping) and "if" in item and not ex.is_truthy(item["if"])
                    )
                ]
    result.update(ok=True, output=output)
    return result


def _undrop(value: Any) -> Any:
    return None if ex.dropped(value) else value


def _live(
    action_id: str,
    step_id: str,
    inputs: Mapping[str, Any],
    workspace: str,
    dry_run: bool,
    live: Live | None,
    lines: list[str],
) -> dict[str, Any]:
    """A pull or merge request: opened by the bot now; its outputs as the host gave them."""
    if dry_run:  # only publish:github:pull-request runs in a dry run, as in Backstage
        lines.append("Performing dry run of creating pull request")
        outs = {
            "targetBranchName": inputs.get("branchName"),
            "remoteUrl": inputs.get("repoUrl"),
            "pullRequestNumber": 43,
        }
        lines.append("Dry run complete")
        return outs
    if live is None:
        raise StepFailed(step_id, f"{action_id}: this run cannot open requests on a git host")
    try:
        folder = inputs.get("sourcePath")
        if not folder and action_id == "publish:gitlab:merge-request":
            folder = inputs.get("targetPath")  # Backstage's fallback, kept for old templates
        source = act.confine(workspace, str(folder or "./"))
    except act.ActionError as exc:
        raise StepFailed(step_id, str(exc)) from None
    if not os.path.isdir(source):
        raise StepFailed(
            step_id, f"{action_id}: sourcePath {inputs.get('sourcePath')} is not a folder"
        )
    answer = live({"step": step_id, "action": action_id, "input": dict(inputs), "source": source})
    for line in answer.get("log") or ():
        lines.append(str(line))
    if answer.get("error") is not None or not isinstance(answer.get("output"), Mapping):
        raise StepFailed(step_id, str(answer.get("error") or "the bot gave no answer"))
    return dict(answer["output"])


def _defer(
    action_id: str,
    step_id: str,
    inputs: Mapping[str, Any],
    workspace: str,
    predicted: Mapping[str, Any],
    deferred: list[dict[str, Any]],
    item: Mapping[str, Any],
) -> dict[str, Any]:
    """Record a publish or registration for Callboard's publisher; its predicted outputs."""
    entry: dict[str, Any] = {"id": step_id, "action": action_id, "input": dict(inputs)}
    if action_id in PUBLISH_ACTIONS:
        source = act.confine(workspace, str(inputs.get("sourcePath") or "./"))
        snapshot = os.path.join(os.path.dirname(workspace), "publish", f"{step_id}-{len(deferred)}")
        shutil.copytree(source, snapshot, symlinks=True)
        entry["snapshot"] = snapshot
    deferred.append(entry)
    return dict(predicted.get(action_id) or {})

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
    spec = request["template"].get("spec") or {}
    runner = _Runner(request, live)
    steps_out: list[dict[str, Any]] = []
    raw_steps = spec.get("steps") or []
    log = [f"Starting up task with {len(raw_steps)} steps"]
    result: dict[str, Any] = {"steps": steps_out, "deferred": runner.deferred, "log": log}
    for index, step in enumerate(raw_steps):
        if not isinstance(step, Mapping):
            continue
        record = _begin(index, step, on_step)
        steps_out.append(record)
        try:
            record["status"] = runner.step(record, step)
        except StepFailed as exc:
            record["status"] = "failed"
            record["log"].append(str(exc))
            result.update(ok=False, failed_step=record["id"], error=str(exc))
            return result
    result.update(ok=True, output=runner.output(spec.get("output") or {}, log))
    return result


def _begin(
    index: int, step: Mapping[str, Any], on_step: Callable[[str], None] | None
) -> dict[str, Any]:
    """A step's record (its log lines included), the step announced as it begins."""
    action_id = str(step.get("action") or "")
    name = str(step.get("name") or action_id)
    lines = [f"Beginning step {name}"]
    step_id = str(step.get("id") or f"step-{index}")
    if on_step is not None:
        on_step(name)
    return {"id": step_id, "name": name, "action": action_id, "log": lines}


class _Runner:
    """One run's state (the workspace, the expression context, what is deferred) and its
    named parts: a step's ``if:``, its dry-run handling, its ``each:`` iterations, each
    action call, and the final ``output``."""

    def __init__(self, request: Mapping[str, Any], live: Live | None) -> None:
        self.request = request
        self.live = live
        self.workspace = str(request["workspace"])
        os.makedirs(self.workspace, exist_ok=True)
        self.dry_run = bool(request.get("dry_run"))
        self.integrations = dict(request.get("integrations") or {})
        self.env = ex.environment(integrations=self.integrations)
        self.max_each = int(request.get("max_each") or 100)
        self.secrets = dict(request.get("secrets") or {})
        self.predicted: Mapping[str, Any] = request.get("publish_outputs") or {}
        task_id = str(request.get("task_id") or uuid.uuid4())
        self.context: dict[str, Any] = {
            "parameters": dict(request.get("parameters") or {}),
            "environment": {"parameters": {}, "secrets": {}},
            "steps": {},
            "user": dict(request.get("user") or {}),
            "context": {"task": {"id": task_id}},
        }
        self.deferred: list[dict[str, Any]] = []

    def render(self, value: Any, ctx: Mapping[str, Any], lines: list[str]) -> Any:
        def failed(source: str, why: str) -> None:
            lines.append(f"Failed to render {source[:200]}: {why}")

        return ex.render_tree(self.env, value, ctx, failed)

    def step(self, record: dict[str, Any], step: Mapping[str, Any]) -> str:
        """Run one step; its status (``skipped`` or ``completed``), or ``StepFailed``."""
        step_id, action_id, lines = record["id"], record["action"], record["log"]
        condition = step.get("if")
        has_each = step.get("each") is not None
        if self._false_if(condition, has_each, lines):
            lines.append(f"Skipping step {step_id} because its if condition was false")
            return "skipped"
        handler = act.ACTIONS.get(action_id)
        if handler is None and action_id not in act.DEFERRED and action_id not in act.LIVE:
            raise StepFailed(step_id, f"Template action with ID '{action_id}' is not registered.")
        full = {**self.context, "secrets": self.secrets}
        if self.dry_run and self._skipped_in_dry_run(step, step_id, action_id, handler, lines):
            return "skipped"
        iterations = self._iterations(step, step_id, action_id, full, lines) if has_each else [{}]
        outputs: dict[str, Any] = {}
        for item, run_it, inputs in self._plan(step, condition, iterations, full, lines):
            outs = self._iteration(step_id, action_id, handler, item, run_it, inputs, lines)
            for key, value in (outs or {}).items():
                if has_each:
                    outputs.setdefault(key, []).append(value)
                else:
                    outputs[key] = value
        self.context["steps"][step_id] = {"output": outputs}
        lines.append(f"Finished step {record['name']}")
        return "completed"

    def _false_if(self, condition: Any, has_each: bool, lines: list[str]) -> bool:
        """The step's ``if:`` is false (with ``each:`` it is asked per item instead)."""
        if condition is False:
            return True
        return (
            isinstance(condition, str)
            and not has_each
            and not ex.is_truthy(_undrop(self.render(condition, self.context, lines)))
        )

    def _skipped_in_dry_run(
        self,
        step: Mapping[str, Any],
        step_id: str,
        action_id: str,
        handler: Any,
        lines: list[str],
    ) -> bool:
        """Log the inputs (secrets redacted); skip an action that does no dry run, with
        Backstage's example outputs."""
        redacted = {**self.context, "secrets": {k: "***" for k in self.secrets}}
        shown = self.render(step.get("input") or {}, redacted, [])
        lines.append(
            f"Running {action_id} in dry-run mode with inputs (secrets redacted): "
            f"{json.dumps(shown, indent=2, ensure_ascii=False)}"
        )
        if handler is None and action_id in act.DRY_RUN_SKIPPED:
            lines.append(f"Skipping because {action_id} does not support dry-run")
            self.context["steps"][step_id] = {"output": dict(act.DRY_RUN_SKIPPED[action_id])}
            return True
        return False

    def _iterations(
        self,
        step: Mapping[str, Any],
        step_id: str,
        action_id: str,
        full: Mapping[str, Any],
        lines: list[str],
    ) -> list[dict[str, Any]]:
        """``each:`` as one ``{"each": {"key", "value"}}`` per item (at most ``max_each``)."""
        each = _undrop(self.render(step["each"], full, lines))
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
        if len(pairs) > self.max_each:
            raise StepFailed(
                step_id, f"each: resolves to {len(pairs)} items; at most {self.max_each} run"
            )
        return [{"each": {"key": k, "value": v}} for k, v in pairs]

    def _plan(
        self,
        step: Mapping[str, Any],
        condition: Any,
        iterations: list[dict[str, Any]],
        full: Mapping[str, Any],
        lines: list[str],
    ) -> list[tuple[dict[str, Any], bool, Any]]:
        """Each iteration, whether its ``if:`` holds and its rendered input, all rendered
        before any runs (as Backstage does)."""
        planned = []
        for item in iterations:
            ctx_i = {**full, **item}
            run_it = (
                "each" not in item
                or not condition
                or ex.is_truthy(_undrop(self.render(condition, ctx_i, lines)))
            )
            planned.append((item, run_it, self.render(step.get("input") or {}, ctx_i, lines)))
        return planned

    def _iteration(
        self,
        step_id: str,
        action_id: str,
        handler: Any,
        item: Mapping[str, Any],
        run_it: bool,
        inputs: Any,
        lines: list[str],
    ) -> dict[str, Any] | None:
        """One call of the step's action; its outputs (None: this item's ``if:`` is false)."""
        shown_each = json.dumps({k: ex.js_str(v) for k, v in item["each"].items()}) if item else ""
        if item and not run_it:
            lines.append(f"Skipping step each: {shown_each}")
            return None
        if item:
            lines.append(f"Running step each: {shown_each}")
        if not isinstance(inputs, Mapping):
            raise StepFailed(step_id, f"the input of {action_id} is not an object")
        if action_id in act.LIVE:
            return _live(action_id, step_id, inputs, self.workspace, self.dry_run, self.live, lines)
        if handler is None:
            return _defer(
                action_id, step_id, inputs, self.workspace, self.predicted, self.deferred, item
            )
        return self._action(step_id, handler, inputs, lines)

    def _action(
        self, step_id: str, handler: Any, inputs: Mapping[str, Any], lines: list[str]
    ) -> dict[str, Any]:
        """A native action, run here in the workspace; its outputs."""
        actx = act.ActionContext(
            workspace=self.workspace,
            template_dir=str(self.request["template_dir"]),
            template_ref=str(self.request.get("template_ref") or ""),
            integrations=self.integrations,
            max_files=int(self.request.get("max_files") or 1000),
            log=lines.append,
        )
        try:
            handler(inputs, actx)
        except act.ActionError as exc:
            raise StepFailed(step_id, str(exc)) from None
        except OSError as exc:
            raise StepFailed(step_id, f"{type(exc).__name__}: {exc}") from None
        return dict(actx.outputs)

    def output(self, spec_output: Any, log: list[str]) -> Any:
        """``spec.output`` rendered; ``links``/``text`` items whose ``if`` is false dropped."""
        output = self.render(spec_output, self.context, log)
        if isinstance(output, dict):
            for key in ("links", "text"):
                if isinstance(output.get(key), list):
                    output[key] = [
                        {k: v for k, v in item.items() if k != "if"}
                        if isinstance(item, Mapping)
                        else item
                        for item in output[key]
                        if not (
                            isinstance(item, Mapping)
                            and "if" in item
                            and not ex.is_truthy(item["if"])
                        )
                    ]
        return output


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

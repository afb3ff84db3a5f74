"""Which of a Template's steps Callboard can run natively, read without rendering anything.

A template is offered only when every step's action is one Callboard runs (``NATIVE``) or
does through its own publisher (``PUBLISHED``: publishing, registration, and pull or merge
requests on a host in ``scaffold.hosts``). Anything else makes it "Not available" with
the action named, so that it is never silently invisible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.scaffold.v1beta3.actions import ACTIONS, DEFERRED, LIVE

NATIVE: tuple[str, ...] = tuple(ACTIONS)
PUBLISHED: tuple[str, ...] = (*DEFERRED, *LIVE)
FETCH_ACTIONS = (
    "fetch:template",
    "fetch:template:file",
    "fetch:plain",
    "fetch:plain:file",
    "fetch:cookiecutter",
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def problems(spec: Mapping[str, Any]) -> list[str]:
    """Why the template cannot run natively (empty when it can), each naming its step."""
    steps = spec.get("steps")
    if not isinstance(steps, list):  # an empty list is a template that only shows its output
        return ["spec.steps is missing or not a list"]
    found: list[str] = []
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            found.append(f"spec.steps[{index}] is not an object")
            continue
        action = str(step.get("action") or "")
        label = str(step.get("id") or step.get("name") or f"#{index + 1}")
        if action not in NATIVE and action not in PUBLISHED:
            found.append(
                f"step {label} uses the action {action or '(none)'}, which Callboard cannot "
                "run natively"
            )
            continue
        inputs = step.get("input")
        url = inputs.get("url") if isinstance(inputs, Mapping) else None
        if action in FETCH_ACTIONS and isinstance(url, str) and _URL.match(url):
            found.append(
                f"step {label} ({action}) fetches {url}; Callboard fetches skeletons only from "
                "the template's own folder"
            )
    return found


def skeleton_urls(spec: Mapping[str, Any]) -> list[str]:
    """The relative ``url`` inputs of the fetch steps (to check they exist)."""
    out: list[str] = []
    for step in spec.get("steps") or ():
        if isinstance(step, Mapping) and step.get("action") in FETCH_ACTIONS:
            inputs = step.get("input")
            url = inputs.get("url") if isinstance(inputs, Mapping) else None
            if isinstance(url, str) and "${{" not in url and not _URL.match(url):
                out.append(url)
    return out


def proposes(spec: Mapping[str, Any]) -> bool:
    """Whether a step opens a pull or merge request (on a repository the user names)."""
    return any(
        isinstance(step, Mapping) and step.get("action") in LIVE for step in spec.get("steps") or ()
    )

"""What a default Backstage would not show of a file source, and why.

Backstage processes a Location entity as one step: it reads every target and emits what they
hold. Any error in that step (a target that cannot be read, a YAML error, a document that is no
object, an envelope it cannot read) fails the step, and *none* of the entities the step emitted
are stored: on a fresh catalog they never appear, and a nested Location among them is never
processed, so its own targets never appear either (``../shared/reference/backstage-catalog.md``
§6.3). Callboard keeps the good siblings instead, which is more useful, but a team checking a
repository with Callboard must be told what its Backstage will not show.

This module is the rule alone, on plain facts about files, so that sync and ``callboard check``
share it and it is tested without a database. One simplification: the Location documents of
one file count as one step (files nearly always hold one Location).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.catalog.problems import Problem
from bot.catalog.rules import NOT_ALLOWED

MAX_NAMED = 5
"""Entities named in a drop's message; the rest are counted."""


@dataclass(frozen=True)
class FileFacts:
    """One file of a source as the rule needs it."""

    children: Sequence[str]  # its Location targets (root-relative paths)
    entities: Sequence[str]  # refs of the entities it holds
    blocking: str | None  # why Backstage's step that reads this file fails, or None


@dataclass(frozen=True)
class Drop:
    """Entities Backstage would not show, the Location step that loses them, and why."""

    location_file: str | None  # the file of the Location(s); None: the source's own entry
    cause_file: str
    cause: str
    also_failing: int  # other targets of the same step that fail too
    entities: tuple[str, ...]
    files: tuple[str, ...] = ()  # the files whose entities Backstage would not store now

    def message(self) -> str:
        shown = ", ".join(self.entities[:MAX_NAMED])
        more = len(self.entities) - MAX_NAMED
        if more > 0:
            shown += f" and {more} more"
        what = f"{len(self.entities)} entit{'y' if len(self.entities) == 1 else 'ies'}"
        others = f" (and {self.also_failing} more of its targets)" if self.also_failing else ""
        step = "this Location" if self.location_file else "this source's entry"
        return (
            f"Backstage would not show the {what} under {step} ({shown}): its target "
            f"{self.cause_file} fails{others}: {self.cause}"
        )


def backstage_drops(entry: str, files: Mapping[str, FileFacts]) -> list[Drop]:
    """Every Location step of the tree from ``entry`` that Backstage would fail, in walk order.

    A file missing from ``files`` was never read (a target not found): it blocks its step. An
    entity that a step which succeeds stores too (its file is reached twice) is not lost.
    """
    failed: list[tuple[str | None, Sequence[str], list[tuple[str, str]]]] = []
    # The files successful steps read. Not the entities they store: a set of a million refs
    # grows by resizes, the last one a single C call of ~100 ms that holds the GIL (and the
    # event loop with it); which of them are stored is asked only of the failed steps' entities.
    stored_files: set[str] = set()
    processed: set[str] = set()  # files whose own Location step was looked at
    # Depth-first, in the order targets are written, without recursion.
    stack: list[tuple[str | None, Sequence[str]]] = [(None, [entry])]
    while stack:
        location_file, targets = stack.pop()
        unique = list(dict.fromkeys(targets))
        failing = [
            (t, (files[t].blocking or "") if t in files else "not found")
            for t in unique
            if t not in files or files[t].blocking
        ]
        if failing:
            failed.append((location_file, unique, failing))
            continue
        stored_files.update(unique)
        nested = [t for t in unique if files[t].children and t not in processed]
        processed.update(nested)
        stack.extend((t, files[t].children) for t in reversed(nested))
    if not failed:
        return []
    subtrees = [(step, _subtree(step[1], files)) for step in failed]
    at_risk = {e for _step, (_paths, entities) in subtrees for e in entities}
    stored = {e for f in stored_files for e in files[f].entities if e in at_risk}
    drops = []
    for (location_file, _targets, failing), (paths, entities) in subtrees:
        lost = tuple(e for e in entities if e not in stored)
        if lost:
            cause_file, cause = failing[0]
            kept_out = tuple(p for p in paths if p not in stored_files)
            drops.append(Drop(location_file, cause_file, cause, len(failing) - 1, lost, kept_out))
    return drops


def _subtree(
    targets: Sequence[str], files: Mapping[str, FileFacts]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files ``targets`` and their Locations reach, and the entities they hold."""
    seen: dict[str, None] = {}
    out: dict[str, None] = {}
    stack = list(reversed(targets))
    while stack:
        path = stack.pop()
        if path in seen or path not in files:
            continue
        seen[path] = None
        facts = files[path]
        out.update(dict.fromkeys(facts.entities))
        stack.extend(reversed(facts.children))
    return tuple(seen), tuple(out)


DROP_PREFIX = "Backstage would not show "
"""How a drop's problem starts: sync replaces these on every apply (they depend on the tree)."""


def file_facts(
    files: Iterable[tuple[str, Sequence[str], Sequence[str]]], problems: Iterable[Problem]
) -> dict[str, FileFacts]:
    """Facts from ``(path, children, entity refs)`` per file and the problems found.

    A file blocks the step that reads it when it has an error that names no entity (a YAML
    error, a document that is no object, an envelope without a usable kind and name, a target
    that cannot be read) or an entity of a kind the rules do not allow there. Any other error of
    one entity (a bad name) is that entity's own, as in Backstage, and a warning never blocks.
    """
    blocking: dict[str, str] = {}
    for problem in problems:
        if (
            problem.level == "error"
            and problem.file is not None
            and (problem.entity is None or problem.message.startswith(NOT_ALLOWED))
            and not problem.message.startswith(DROP_PREFIX)
        ):
            blocking.setdefault(problem.file, problem.message)
    return {
        path: FileFacts(tuple(children), tuple(refs), blocking.get(path))
        for path, children, refs in files
    }


def tree_roots(facts: Mapping[str, FileFacts], order: Sequence[str]) -> list[str]:
    """The entry (first in walk order) and any file no other file names: each is a location
    the source itself registers."""
    named = {child for f in facts.values() for child in f.children}
    return [path for i, path in enumerate(order) if i == 0 or path not in named]


def all_drops(facts: Mapping[str, FileFacts], order: Sequence[str]) -> list[tuple[str, Drop]]:
    """Every drop of the tree, from each of its roots, with that root."""
    return [
        (root, drop) for root in tree_roots(facts, order) for drop in backstage_drops(root, facts)
    ]


def drop_problems(facts: Mapping[str, FileFacts], order: Sequence[str]) -> list[Problem]:
    """A warning per Location step Backstage would fail, on the Location's file (or the root)."""
    return [
        Problem("warning", drop.message(), drop.location_file or root)
        for root, drop in all_drops(facts, order)
    ]

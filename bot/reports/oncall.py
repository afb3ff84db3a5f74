"""On-call schedules checked for reports: gaps in the next 7 days, within a budget.

Every on-call target the catalog names (``pagerduty.com/service-id``, ``opsgenie.com/team``,
``opsgenie.com/schedule``) whose provider is configured (its token is set; the others are not
checked, silently) is asked when its first level has nobody on call: all at once, at most
``MAX_CHECKED`` of them, within ``BUDGET_SECONDS`` in all. A provider that is down, rate
limiting or too slow never fails the report: the targets it did not check are named in one
line per reason ("not checked").
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.oncall.model import OnCallTarget, ScheduleGaps
from bot.reports.facts import CatalogFacts

if TYPE_CHECKING:
    from bot.ports import OnCallDirectory

LOOKAHEAD = dt.timedelta(days=7)
MAX_CHECKED = 200  # targets asked per analysis; the rest are "not checked"
BUDGET_SECONDS = 20.0  # for all of them together


@dataclass(frozen=True)
class OnCallCheck:
    """What the schedule check found: each target's gaps, and why some were not checked."""

    results: tuple[ScheduleGaps, ...] = ()
    unchecked: dict[OnCallTarget, str] = field(default_factory=dict)  # target → why

    def unchecked_lines(self, targets: Iterable[OnCallTarget] | None = None) -> tuple[str, ...]:
        """One line per reason, naming the targets (of ``targets``; None: all)."""
        wanted = None if targets is None else set(targets)
        by_reason: dict[str, list[str]] = defaultdict(list)
        for target, why in sorted(self.unchecked.items(), key=lambda kv: kv[0].key):
            if wanted is None or target in wanted:
                by_reason[why].append(f"{target.provider} {target.kind} {target.id}")
        lines = []
        for why, names in by_reason.items():
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            lines.append(f"On-call schedules not checked ({why}): {shown}")
        return tuple(lines)


async def check_schedules(
    directory: OnCallDirectory | None,
    facts: CatalogFacts,
    now: dt.datetime,
    budget: float = BUDGET_SECONDS,
) -> OnCallCheck:
    """Ask every configured provider for the gaps of every target the catalog names."""
    if directory is None or not directory.providers():
        return OnCallCheck()
    wanted = await asyncio.to_thread(_targets, facts)  # a walk over every entity: off the loop
    if not wanted:
        return OnCallCheck()
    configured = set(directory.providers())
    unchecked: dict[OnCallTarget, str] = {}
    asked: list[OnCallTarget] = []
    for target in wanted:
        if target.provider not in configured:
            continue  # no token for it: on-call is not checked with that provider at all
        if len(asked) >= MAX_CHECKED:
            unchecked[target] = f"more than {MAX_CHECKED} schedules"
        else:
            asked.append(target)
    tasks = {asyncio.ensure_future(directory.gaps(t, now, now + LOOKAHEAD)): t for t in asked}
    results: list[ScheduleGaps] = []
    if tasks:
        done, late = await asyncio.wait(tasks, timeout=budget)
        for task in late:
            task.cancel()
            unchecked[tasks[task]] = f"no answer within {budget:g} s"
        for task in done:
            result = task.result()
            if result.error:
                unchecked[result.target] = result.error
            else:
                results.append(result)
    results.sort(key=lambda r: r.target.key)
    return OnCallCheck(tuple(results), unchecked)


def _targets(facts: CatalogFacts) -> list[OnCallTarget]:
    return sorted({t for i in facts.items.values() for t in i.oncall}, key=lambda t: t.key)

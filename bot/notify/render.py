"""A channel's notification as a ``Reply``: one section per team, a link to each entity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.chat import Link, Reply, Section
from bot.notify.model import Line
from bot.notify.plan import NO_TEAM
from bot.reports.facts import short_ref


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def notification_reply(
    lines: Sequence[Line],
    teams: Mapping[str, str],
    max_items: int,
    held: bool = False,
    omitted: int = 0,
) -> Reply:
    """``lines`` (already in order) grouped by team, at most ``max_items`` shown; ``omitted``
    more were only counted."""
    groups: dict[str | None, list[Line]] = {}
    for line in lines:
        groups.setdefault(line.team, []).append(line)
    labels = {team: teams.get(team, short_ref(team)) if team else NO_TEAM for team in groups}
    named = [t for t in groups if t is not None]
    title = (
        f"Catalog changes for {labels[named[0]]}"
        if len(groups) == 1 and named
        else "Catalog changes"
    )
    left = max_items
    sections: list[Section] = []
    links: dict[str, Link] = {}
    for team, found in groups.items():
        shown = found[: max(left, 0)]
        left -= len(shown)
        items = [line.text() for line in shown]
        hidden = len(found) - len(shown)
        if hidden:
            more = f" (/report changes {short_ref(team)})" if team else ""
            items.append(f"… and {hidden} more{more}")
        sections.append(
            Section(title=labels[team] if len(groups) > 1 else None, items=tuple(items))
        )
        for line in shown:
            if line.url and line.ref not in links:
                links[line.ref] = Link(short_ref(line.ref), line.url)
    if omitted:
        sections.append(Section(items=(f"… and {omitted} more changes not listed",)))
    when = "held through quiet hours" if held else "after the latest catalog sync"
    return Reply(
        title=title,
        text=f"{_plural(len(lines) + omitted, 'change')} {when}.",
        sections=tuple(sections),
        links=tuple(links.values()),
        ephemeral=False,
    )

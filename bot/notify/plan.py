"""Planning one batch of notifications: what to tell (lines), and to which channels (pure).

``lines_of`` folds a sync's change rows into one net change per entity (``net_changes``, as
the digest does) and adds the conditions that became true since the last batch (an owner not in
the catalog, stale docs); ``address`` sends each line to its team's channels, the routes that
match it, the channels that follow it, or else the fallback, and makes one message per channel.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.docs.settings import DocsSettings
from bot.notify.model import (
    DOCS_STALE,
    ENTITY,
    MAX_LINES,
    OWNER_UNKNOWN,
    SYSTEM,
    TEAM,
    Line,
    Message,
    Subscription,
)
from bot.notify.settings import NotificationsSettings, Route
from bot.reports.changes import ChangeRow, net_changes
from bot.reports.facts import OWNED_KINDS, CatalogFacts, short_ref
from bot.reports.findings import docs_findings
from bot.reports.settings import Target

STALE_CODES = frozenset({"not-updated", "behind-code"})
NO_TEAM = "No owner in the catalog"


@dataclass(frozen=True)
class EntityFacts:
    """What routes and links need of an entity beyond the reports' facts."""

    system: str | None = None  # the full ref of spec.system
    tags: frozenset[str] = frozenset()
    view_url: str | None = None  # backstage.io/view-url, when it is a web address


def conditions_now(
    facts: CatalogFacts, now: dt.datetime, thresholds: DocsSettings
) -> dict[tuple[str, str], str | None]:
    """Every (ref, condition) true of the catalog now, with what to say about it."""
    found: dict[tuple[str, str], str | None] = {}
    for item in facts.items.values():
        if item.kind in OWNED_KINDS and item.owner and item.owner not in facts.items:
            found[(item.ref, OWNER_UNKNOWN)] = None
    for finding in docs_findings(facts, now, thresholds, ()):
        if finding.code in STALE_CODES and (finding.entity, DOCS_STALE) not in found:
            found[(finding.entity, DOCS_STALE)] = finding.problem
    return found


def lines_of(
    rows: Sequence[ChangeRow],
    facts: CatalogFacts,
    current: Mapping[tuple[str, str], str | None],
    told: Collection[tuple[str, str]],
) -> list[Line]:
    """The lines of one batch: each entity's net change, and each condition newly true."""
    lines: list[Line] = []
    moved_from: dict[str, str] = {}
    for change in net_changes(rows):
        old, new = change.old_owner, change.new_owner
        if change.change == "added" and new:
            lines.append(Line("added", change.ref, new, None, new))
        elif change.change == "removed" and old:
            lines.append(Line("removed", change.ref, old, old, None))
        elif change.change == "owner-changed":
            if new:
                lines.append(Line("moved-in", change.ref, new, old, new))
            if old:
                lines.append(Line("moved-out", change.ref, old, old, new))
                moved_from[change.ref] = old
    for ref, condition in sorted(set(current) - set(told)):
        item = facts.items.get(ref)
        if item is None:
            continue
        if condition == OWNER_UNKNOWN:
            # The team it was taken from hears of it; an owner that left has no channel.
            before = moved_from.get(ref)
            lines.append(Line(OWNER_UNKNOWN, ref, before, before, item.owner))
        else:
            lines.append(
                Line(DOCS_STALE, ref, item.owner, item.owner, item.owner, current[(ref, condition)])
            )
    return lines


def _route_matches(route: Route, line: Line, facts: CatalogFacts, more: EntityFacts) -> bool:
    if line.change not in route.changes:
        return False
    item = facts.items.get(line.ref)
    kind = item.kind if item is not None else line.ref.partition(":")[0]
    if route.kinds and kind not in route.kinds:
        return False
    if route.types and (item is None or (item.spec_type or "").lower() not in route.types):
        return False
    if route.lifecycles and (item is None or (item.lifecycle or "") not in route.lifecycles):
        return False
    if route.systems and more.system not in route.systems and line.ref not in route.systems:
        return False
    if route.tags and not (route.tags & more.tags):
        return False
    return not route.owners or line.team in route.owners


def _follows(sub: Subscription, line: Line, more: EntityFacts) -> bool:
    if sub.kind == TEAM:
        return line.team == sub.target
    if sub.kind == SYSTEM:
        return line.ref == sub.target or more.system == sub.target
    return sub.kind == ENTITY and line.ref == sub.target


def entity_url(ref: str, backstage_url: str | None, more: EntityFacts) -> str | None:
    """The entity's Backstage page, else its own view URL."""
    if backstage_url:
        kind, _, rest = ref.partition(":")
        namespace, _, name = rest.partition("/")
        return f"{backstage_url}/catalog/{namespace}/{kind}/{name}"
    return more.view_url


def team_label(facts: CatalogFacts, team: str | None) -> str:
    if team is None:
        return NO_TEAM
    item = facts.items.get(team)
    if item is not None and item.title and item.title.lower() != item.name.lower():
        return f"{item.title} ({short_ref(team)})"
    return short_ref(team)


def needs_details(
    settings: NotificationsSettings,
    subscriptions: Sequence[Subscription],
    backstage_url: str | None,
) -> bool:
    """Whether addressing needs ``EntityFacts`` (systems, tags, view URLs) at all."""
    return (
        not backstage_url
        or any(r.systems or r.tags for r in settings.routes)
        or any(s.kind == SYSTEM for s in subscriptions)
    )


def address(
    lines: Iterable[Line],
    facts: CatalogFacts,
    details: Mapping[str, EntityFacts],
    subscriptions: Sequence[Subscription],
    settings: NotificationsSettings,
    platforms: Collection[str],
    now: dt.datetime,
    backstage_url: str | None = None,
) -> list[Message]:
    """One message per channel holding every line that channel hears of."""
    none = EntityFacts()
    buckets: dict[Target, dict[tuple[str, str, str | None], Line]] = {}
    by_team: dict[str, list[Target]] = {}

    def team_targets(team: str | None) -> list[Target]:
        if team is None or not settings.team_channels:
            return []
        if team not in by_team:
            item = facts.items.get(team)
            by_team[team] = (
                [Target(p, c) for p, c in sorted(item.channels.items()) if p in platforms]
                if item is not None and item.kind == "group"
                else []
            )
        return by_team[team]

    for line in lines:
        if line.change not in settings.changes:
            continue
        more = details.get(line.ref, none)
        if line.change != "removed":
            line = dataclasses.replace(line, url=entity_url(line.ref, backstage_url, more))
        targets = list(team_targets(line.team))
        for route in settings.routes:
            if _route_matches(route, line, facts, more):
                targets.extend(route.targets)
        targets.extend(
            Target(s.platform, s.channel) for s in subscriptions if _follows(s, line, more)
        )
        if not targets:
            targets = list(settings.fallback)
        for target in targets:
            buckets.setdefault(target, {})[(line.change, line.ref, line.team)] = line
    messages = []
    for target, found in buckets.items():
        ordered = tuple(sorted(found.values(), key=lambda x: x.sort_key))
        kept = ordered[:MAX_LINES]
        teams = {t: team_label(facts, t) for t in dict.fromkeys(x.team for x in kept) if t}
        quiet = settings.quiet_for(target)
        held = quiet.hold_until(now) if quiet is not None else None
        messages.append(Message(target, kept, teams, held, len(ordered) - len(kept)))
    messages.sort(key=lambda m: (m.target.platform, m.target.channel))
    return messages

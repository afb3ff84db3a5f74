"""The problems reports list: ownership gaps and docs problems, each naming the fix.

A ``Finding`` names the entity, the problem, and what to do about it, and carries the teams
whose digests show it. Both functions are pure: facts in, findings out, sorted the same way
every time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.annotations import OPSGENIE_SCHEDULE, OPSGENIE_TEAM, PAGERDUTY_SERVICE_ID
from bot.docs.settings import DocsSettings
from bot.oncall.model import ScheduleGaps
from bot.reports.facts import OWNED_KINDS, CatalogFacts, Item, short_ref

# What someone must be on call for: what runs (an API is served by a component, a system is
# its components), so not libraries or documentation.
ONCALL_KINDS = frozenset({"component", "resource"})
NOT_RUNNING_TYPES = frozenset({"library", "documentation", "template"})


def _runs(item: Item) -> bool:
    return item.kind in ONCALL_KINDS and (item.spec_type or "").lower() not in NOT_RUNNING_TYPES


# Ownership gaps, in the order reports list them.
GAP_CODES: dict[str, str] = {
    "owner-missing": "No owner (spec.owner missing)",
    "owner-not-found": "Owner not in the catalog",
    "owner-user-not-found": "Owner is a User not in the catalog",
    "owner-wrong-kind": "Owner is neither a Group nor a User",
    "owner-group-empty": "Owner team without members",
    "owner-user-no-group": "Owner is a User in no team",
    "owner-disputed": "Owner says it is not theirs",
    "group-owns-nothing": "Teams that own nothing",
    "oncall-missing": "Owning team has no on-call",
    "oncall-gaps": "On-call schedule has gaps in the next 7 days",
}

# Docs problems, in the order reports list them.
DOC_CODES: dict[str, str] = {
    "docs-missing": "Docs annotation, but no docs",
    "nav-missing": "Nav pages missing",
    "not-updated": "Stale docs",
    "behind-code": "Docs behind the code",
    "undocumented": "Components without docs",
}

_ORDER = {code: i for i, code in enumerate([*GAP_CODES, *DOC_CODES])}


@dataclass(frozen=True)
class Finding:
    """One problem: on which entity, what is wrong, and what to do."""

    code: str
    entity: str  # the ref the problem is on
    problem: str
    fix: str
    owner: str | None = None  # the owner ref involved, when there is one
    teams: tuple[str, ...] = ()  # groups whose own reports show this finding
    affected: tuple[str, ...] = ()  # entities the problem reaches (what an empty group owns)
    file: str | None = None
    line: int | None = None

    @property
    def label(self) -> str:
        return short_ref(self.entity)

    def line_text(self) -> str:
        """``payments-api: the problem. Fix: what to do.``"""
        return f"{self.label}: {self.problem}. {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "entity": self.entity,
            "problem": self.problem,
            "fix": self.fix,
            "owner": self.owner,
            "teams": list(self.teams),
            "affected": list(self.affected),
            "file": self.file,
            "line": self.line,
        }


def sort_findings(found: Iterable[Finding]) -> list[Finding]:
    return sorted(found, key=lambda f: (_ORDER.get(f.code, 99), f.entity))


def _listing(items: Sequence[Item], limit: int = 3) -> str:
    names = [i.label for i in items[:limit]]
    more = len(items) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _entities(n: int) -> str:
    return f"{n} {'entity' if n == 1 else 'entities'}"


def ownership_gaps(facts: CatalogFacts) -> list[Finding]:
    """Every ownership gap in the catalog."""
    found: list[Finding] = []
    empty_groups: dict[str, list[Item]] = {}
    lonely_users: dict[str, list[Item]] = {}
    for item in facts.items.values():
        if item.kind not in OWNED_KINDS:
            continue
        if not item.owner:
            found.append(
                Finding(
                    "owner-missing",
                    item.ref,
                    "has no spec.owner",
                    f"Add spec.owner (a team Group) in {item.where}.",
                    file=item.file,
                    line=item.line,
                )
            )
            continue
        owner = facts.items.get(item.owner)
        if owner is None:
            is_user = item.owner.startswith("user:")
            found.append(
                Finding(
                    "owner-user-not-found" if is_user else "owner-not-found",
                    item.ref,
                    f"its owner {short_ref(item.owner)} is not in the catalog",
                    (
                        f"Hand it to a team (spec.owner: group:<team>) in {item.where}; "
                        "people leave, teams stay."
                        if is_user
                        else f"Set spec.owner to an existing team in {item.where}, or add "
                        f"{item.owner} to the catalog."
                    ),
                    owner=item.owner,
                    file=item.file,
                    line=item.line,
                )
            )
        elif owner.kind == "group":
            if not facts.effective_members(owner.ref):
                empty_groups.setdefault(owner.ref, []).append(item)
        elif owner.kind == "user":
            if not facts.groups_of.get(owner.ref):
                lonely_users.setdefault(owner.ref, []).append(item)
        else:
            found.append(
                Finding(
                    "owner-wrong-kind",
                    item.ref,
                    f"its owner {short_ref(owner.ref)} is a {owner.kind}, not a Group or User",
                    f"Set spec.owner to the team that runs it in {item.where}.",
                    owner=owner.ref,
                    file=item.file,
                    line=item.line,
                )
            )
    for ref, owned in empty_groups.items():
        group = facts.items[ref]
        found.append(
            Finding(
                "owner-group-empty",
                ref,
                f"owns {_entities(len(owned))} "
                f"({_listing(owned)}) but has no members, not even in child groups",
                f"Add its people (spec.memberOf: [{group.name}] on each User, or spec.members "
                f"in {group.where}), or hand its entities to a team with members.",
                owner=ref,
                teams=(ref,),
                affected=tuple(i.ref for i in owned),
                file=group.file,
                line=group.line,
            )
        )
    for ref, owned in lonely_users.items():
        user = facts.items[ref]
        found.append(
            Finding(
                "owner-user-no-group",
                ref,
                f"owns {_entities(len(owned))} ({_listing(owned)}) but is in no group",
                f"Add {user.name} to a team (spec.memberOf in {user.where}), or hand the "
                "entities to a team.",
                owner=ref,
                affected=tuple(i.ref for i in owned),
                file=user.file,
                line=user.line,
            )
        )
    for group in facts.groups():
        if facts.children.get(group.ref) or facts.owned.get(group.ref):
            continue  # a parent of teams (an org, a department), or it owns something
        found.append(
            Finding(
                "group-owns-nothing",
                group.ref,
                "owns nothing in the catalog",
                f"Set spec.owner: {group.name} on the services, APIs and resources it runs, or "
                f"remove the group from {group.where} if the team is gone.",
                owner=group.ref,
                teams=(group.ref,),
                file=group.file,
                line=group.line,
            )
        )
    found.extend(oncall_missing(facts))
    return sort_findings(found)


def oncall_missing(facts: CatalogFacts) -> list[Finding]:
    """Teams that run something (a component that is not a library or documentation, a
    resource) and have no on-call: none on the team, its parent groups or anything it owns.

    Only in a catalog that records on-call somewhere: one that never names PagerDuty or
    Opsgenie does not use them, and every team would be listed for it."""
    found: list[Finding] = []
    if not any(i.oncall for i in facts.items.values()):
        return found
    keys = f"{PAGERDUTY_SERVICE_ID}, {OPSGENIE_TEAM} or {OPSGENIE_SCHEDULE}"
    for group in facts.groups():
        if group.oncall:
            continue
        owned = facts.owned_by(group.ref)
        without = [i for i in owned if _runs(i)]
        if not without or any(i.oncall for i in owned):
            continue  # it runs nothing, or it has on-call for something it owns
        parents = [facts.items[p] for p in facts.parents(group.ref) if p in facts.items]
        if any(p.oncall for p in parents):
            continue
        found.append(
            Finding(
                "oncall-missing",
                group.ref,
                f"runs {_entities(len(without))} ({_listing(without)}) and has no on-call: "
                "no PagerDuty or Opsgenie annotation on the team, its parent groups or "
                "anything it owns",
                f"Add {keys} to {group.name} in {group.where}.",
                owner=group.ref,
                teams=(group.ref,),
                affected=tuple(i.ref for i in without),
                file=group.file,
                line=group.line,
            )
        )
    return found


def _span(start: dt.datetime, end: dt.datetime) -> str:
    a, b = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if a.date() == b.date():
        return f"{a:%a %d %b %H:%M}–{b:%H:%M} UTC"
    return f"{a:%a %d %b %H:%M} – {b:%a %d %b %H:%M} UTC"


def schedule_gaps(facts: CatalogFacts, checked: Sequence[ScheduleGaps]) -> list[Finding]:
    """A finding on each entity whose on-call annotation leads to a schedule with gaps."""
    with_gaps = {c.target: c for c in checked if c.gaps and c.error is None}
    found: list[Finding] = []
    for item in facts.items.values():
        for target in item.oncall:
            result = with_gaps.get(target)
            if result is None:
                continue
            shown, start, end = result.gaps[0]
            more = len(result.gaps) - 1
            also = f" (and {more} more {'gap' if more == 1 else 'gaps'})" if more else ""
            found.append(
                Finding(
                    "oncall-gaps",
                    item.ref,
                    f"nobody is on call in {shown} {_span(start, end)}{also}",
                    f"Cover it in {target.provider}: a rotation, a layer or an override.",
                    owner=item.owner,
                    teams=(item.ref,) if item.kind == "group" else _team_of(facts, item),
                    file=item.file,
                    line=item.line,
                )
            )
    return sort_findings(found)


def disputed_ownership(
    entity: str,
    owner: str,
    by: str,
    campaign: int,
    named_team: str | None = None,
    reason: str | None = None,
) -> Finding:
    """The ownership gap an attestation answer "not ours" makes: ``owner`` (the team asked)
    says ``entity`` is not theirs; ``named_team`` is who they say owns it, when they said."""
    why = f" ({' '.join(reason.split())[:200]})" if reason and reason.strip() else ""
    problem = f"{short_ref(owner)} says it is not theirs{why}, answered by {by} in check {campaign}"
    if named_team:
        fix = (
            f"If {short_ref(named_team)} owns it, set spec.owner: {short_ref(named_team)} in "
            "its catalog file; else find the team that runs it."
        )
    else:
        fix = "Find the team that runs it and set spec.owner in its catalog file."
    teams = tuple(t for t in (owner, named_team) if t)
    return Finding("owner-disputed", entity, problem, fix, owner=owner, teams=teams)


def _team_of(facts: CatalogFacts, item: Item) -> tuple[str, ...]:
    """The team whose reports show a finding on ``item``: its owner, when a Group."""
    owner = facts.items.get(item.owner) if item.owner else None
    return (owner.ref,) if owner is not None and owner.kind == "group" else ()


def _day(value: dt.datetime) -> str:
    return value.date().isoformat()


def docs_findings(
    facts: CatalogFacts,
    now: dt.datetime,
    thresholds: DocsSettings,
    required_lifecycles: Sequence[str] = ("production",),
) -> list[Finding]:
    """Docs problems: missing, broken nav, stale, behind the code, and missing where required."""
    found: list[Finding] = []
    for ref, facts_of in facts.freshness.items():
        item = facts.items.get(ref)
        if item is None:
            continue  # indexed before the entity left; the next index run drops it
        teams = _team_of(facts, item)
        common: dict[str, Any] = {
            "owner": item.owner,
            "teams": teams,
            "file": item.file,
            "line": item.line,
        }
        if facts_of.folder_missing:
            found.append(
                Finding(
                    "docs-missing",
                    ref,
                    f"has backstage.io/techdocs-ref: {facts_of.techdocs_ref} but no docs there",
                    f"Add mkdocs.yml and docs/index.md beside {item.file or 'its catalog file'}, "
                    "or remove the annotation.",
                    **common,
                )
            )
            continue
        if facts_of.nav_missing:
            pages = ", ".join(facts_of.nav_missing[:5])
            more = len(facts_of.nav_missing) - 5
            found.append(
                Finding(
                    "nav-missing",
                    ref,
                    f"mkdocs.yml nav lists pages that do not exist: {pages}"
                    + (f" and {more} more" if more > 0 else ""),
                    "Write the pages, or take them out of the nav in mkdocs.yml.",
                    **common,
                )
            )
        docs_at = facts_of.docs_updated
        if docs_at is None:
            continue
        age = (now - docs_at).days
        if age >= thresholds.stale_days:
            found.append(
                Finding(
                    "not-updated",
                    ref,
                    f"docs not updated for {age} days (last on {_day(docs_at)})",
                    "Read them through and fix what changed; a commit to the docs folder "
                    "resets the clock.",
                    **common,
                )
            )
        code_at = facts_of.code_updated
        if code_at is not None:
            behind = (code_at - docs_at).days
            if behind >= thresholds.behind_code_days:
                found.append(
                    Finding(
                        "behind-code",
                        ref,
                        f"docs are {behind} days older than the code beside them "
                        f"(docs {_day(docs_at)}, code {_day(code_at)})",
                        "Update the docs for what the code changes since then.",
                        **common,
                    )
                )
    required = {x.lower() for x in required_lifecycles}
    for item in facts.items.values():
        if item.kind != "component" or item.documented or item.lifecycle not in required:
            continue
        found.append(
            Finding(
                "undocumented",
                item.ref,
                f"in {item.lifecycle} without docs",
                f"Add mkdocs.yml and docs/, and backstage.io/techdocs-ref: dir:. in {item.where}.",
                owner=item.owner,
                teams=_team_of(facts, item),
                file=item.file,
                line=item.line,
            )
        )
    return sort_findings(found)

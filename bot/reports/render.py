"""Reports as core ``Reply`` objects (adapters render them) and as plain data (``--format json``).

On demand (``/report``) a reply lists everything and the command pages it; posted by the
scheduler, each list stops at ``reports.max_items`` and points at the command that shows the
rest, so a digest stays one readable message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat import Button, Field, Reply, Section
from bot.reports.analysis import Analysis, Metrics, Window
from bot.reports.changes import NetChange
from bot.reports.facts import short_ref
from bot.reports.findings import DOC_CODES, GAP_CODES, Finding
from bot.reports.store import PLATFORM_SCOPE, Fault

REPORTS = ("ownership-gaps", "stale-docs", "changes", "digest")

KIND_NAMES = {"api": "API", "airesource": "AI resource"}

SUMMARIES = {
    "ownership-gaps": "owners missing, unknown, without people; teams that own nothing",
    "stale-docs": "docs missing, broken, stale or behind the code; components without docs",
    "changes": "what was added, removed, or changed owner since the last digest",
    "digest": "all of it in one message, with coverage and the trend since the last digest",
}


@dataclass(frozen=True)
class ReportResult:
    """A built report: the reply to show or post, its data, and whether it has anything."""

    report: str
    scope: str
    reply: Reply
    data: dict[str, Any]
    empty: bool
    metrics: Metrics | None = None  # digests: what the next digest's trend compares with
    posted: bool = False  # built for posting to a channel: capped lists, not paged


def scope_name(analysis: Analysis, scope: str) -> str:
    """``Payments (team-payments)``, or ``the catalog``."""
    if scope == PLATFORM_SCOPE:
        return "the catalog"
    team = analysis.team(scope)
    if team is None:
        return short_ref(scope)
    if team.title and team.title.lower() != team.name.lower():
        return f"{team.title} ({team.name})"
    return team.name


def _command(report: str, scope: str) -> str:
    return f"/report {report}" + ("" if scope == PLATFORM_SCOPE else f" {short_ref(scope)}")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%a %d %b %Y %H:%M UTC")


def _capped(items: Sequence[str], limit: int | None, rest: str) -> tuple[str, ...]:
    if limit is None or len(items) <= limit:
        return tuple(items)
    return (*items[:limit], f"…and {len(items) - limit} more: {rest}")


def _finding_sections(
    found: Sequence[Finding], titles: dict[str, str], limit: int | None, rest: str
) -> list[Section]:
    sections: list[Section] = []
    for code, title in titles.items():
        lines = [f.line_text() for f in found if f.code == code]
        if lines:
            heading = f"{title} ({len(lines)})"
            sections.append(Section(title=heading, items=_capped(lines, limit, rest)))
    return sections


def _coverage_text(m: Metrics) -> str:
    if m.coverage is None:
        return "nothing here needs an owner"
    of = _count(m.need_owner, "entity", "entities")
    return f"{m.coverage:.1f}% ({m.well_owned} of {of} needing an owner)"


# --------------------------------------------------------------------------- ownership gaps


def ownership_report(analysis: Analysis, scope: str, posted: bool = False) -> ReportResult:
    found = analysis.gaps_of(scope)
    metrics = analysis.metrics(scope)
    name = scope_name(analysis, scope)
    limit = analysis.settings.max_items if posted else None
    rest = _command("ownership-gaps", scope)
    if scope == PLATFORM_SCOPE:
        everything = _count(metrics.entities, "entity", "entities")
        head = (
            f"{_count(len(found), 'ownership gap')} in {everything}."
            f" Ownership coverage {_coverage_text(metrics)}."
        )
    else:
        head = (
            f"{_count(len(found), 'ownership gap')} for {name}, which owns "
            f"{_count(metrics.entities, 'entity', 'entities')}."
        )
    if not found:
        head = (
            "No ownership gaps: every entity that needs an owner has one with people behind it."
            if scope == PLATFORM_SCOPE
            else f"No ownership gaps for {name}: it has people and owns "
            f"{_count(metrics.entities, 'entity', 'entities')}."
        )
    reply = Reply(
        title="Ownership gaps" + ("" if scope == PLATFORM_SCOPE else f": {name}"),
        text=head,
        sections=tuple(_finding_sections(found, GAP_CODES, limit, rest)),
        notes=analysis.unchecked_of(scope),
        ephemeral=not posted,
    )
    data = {
        "report": "ownership-gaps",
        "scope": scope,
        "generated_at": analysis.now.isoformat(),
        "count": len(found),
        "metrics": metrics.to_dict(),
        "gaps": [f.to_dict() for f in found],
        "not_checked": list(analysis.unchecked_of(scope)),
    }
    return ReportResult("ownership-gaps", scope, reply, data, not found, posted=posted)


# --------------------------------------------------------------------------- stale docs


def docs_report(analysis: Analysis, scope: str, posted: bool = False) -> ReportResult:
    found = analysis.docs_of(scope)
    name = scope_name(analysis, scope)
    limit = analysis.settings.max_items if posted else None
    t = analysis.thresholds
    rules = (
        f"Stale after {t.stale_days} days, or {t.behind_code_days} days behind the code; "
        f"components in {', '.join(analysis.settings.docs_required) or 'no lifecycle'} "
        "must have docs."
    )
    titles = {
        **DOC_CODES,
        "not-updated": f"Not updated for {t.stale_days} days or more",
        "behind-code": f"{t.behind_code_days} days or more behind the code",
    }
    undocumented = sum(1 for f in found if f.code == "undocumented")
    broken = len(found) - undocumented
    where = "" if scope == PLATFORM_SCOPE else f" for {name}"
    if found:
        head = (
            f"{_count(broken, 'docs problem')}{where}, and "
            f"{_count(undocumented, 'component')} without docs. {rules}"
        )
    else:
        head = f"No docs problems{where}. {rules}"
    notes: tuple[str, ...] = ()
    if not analysis.docs_indexed:
        notes = (
            "the docs index is off (docs.enabled: false): only components without docs are listed",
        )
    reply = Reply(
        title="Docs to fix" + ("" if scope == PLATFORM_SCOPE else f": {name}"),
        text=head,
        sections=tuple(_finding_sections(found, titles, limit, _command("stale-docs", scope))),
        notes=notes,
        ephemeral=not posted,
    )
    data = {
        "report": "stale-docs",
        "scope": scope,
        "generated_at": analysis.now.isoformat(),
        "docs_index": analysis.docs_indexed,
        "thresholds": {
            "stale_days": t.stale_days,
            "behind_code_days": t.behind_code_days,
            "docs_required": list(analysis.settings.docs_required),
        },
        "count": len(found),
        "findings": [f.to_dict() for f in found],
    }
    return ReportResult("stale-docs", scope, reply, data, not found, posted=posted)


# --------------------------------------------------------------------------- changes


def _since_text(w: Window) -> str:
    if w.after is not None:
        return f"since the last digest ({_when(w.after.taken_at)})"
    if w.since is not None:
        return f"since {_when(w.since)} (no earlier digest)"
    return "so far"


def _change_sections(changes: Sequence[NetChange], limit: int | None, rest: str) -> list[Section]:
    titles = {"added": "Added", "removed": "Removed", "owner-changed": "Owner changed"}
    sections = []
    for kind, title in titles.items():
        lines = [c.line_text() for c in changes if c.change == kind]
        if lines:
            sections.append(
                Section(title=f"{title} ({len(lines)})", items=_capped(lines, limit, rest))
            )
    return sections


def _change_counts(changes: Sequence[NetChange]) -> str:
    added = sum(1 for c in changes if c.change == "added")
    removed = sum(1 for c in changes if c.change == "removed")
    moved = len(changes) - added - removed
    return f"{added} added, {removed} removed, {_count(moved, 'owner change')}"


def _window_data(w: Window) -> dict[str, Any]:
    return {
        "previous_digest": w.after.taken_at.isoformat() if w.after else None,
        "after_change_id": w.after.last_change_id if w.after else None,
        "since": w.since.isoformat() if w.since else None,
    }


def changes_report(analysis: Analysis, scope: str, posted: bool = False) -> ReportResult:
    w = analysis.window(scope)
    name = scope_name(analysis, scope)
    where = "" if scope == PLATFORM_SCOPE else f" for {name}"
    since = _since_text(w)
    if w.changes:
        head = f"Catalog changes{where} {since}: {_change_counts(w.changes)}."
    else:
        head = f"No catalog changes{where} {since}."
    limit = analysis.settings.max_items if posted else None
    reply = Reply(
        title="Catalog changes" + ("" if scope == PLATFORM_SCOPE else f": {name}"),
        text=head,
        sections=tuple(_change_sections(w.changes, limit, _command("changes", scope))),
        ephemeral=not posted,
    )
    data = {
        "report": "changes",
        "scope": scope,
        "generated_at": analysis.now.isoformat(),
        "window": _window_data(w),
        "count": len(w.changes),
        "changes": [c.to_dict() for c in w.changes],
    }
    return ReportResult("changes", scope, reply, data, not w.changes, posted=posted)


# --------------------------------------------------------------------------- digests


def _delta(now: float | None, before: float | None, unit: str = "") -> str:
    if now is None or before is None:
        return ""
    diff = now - before
    if abs(diff) < 0.05:
        return " (no change)"
    sign = "+" if diff > 0 else "−"
    amount = f"{abs(diff):.1f}" if unit else f"{abs(diff):.0f}"
    return f" ({sign}{amount}{unit})"


def _trend(m: Metrics, previous: Metrics | None) -> dict[str, Any]:
    if previous is None:
        return {}
    return {
        "coverage": None
        if m.coverage is None or previous.coverage is None
        else round(m.coverage - previous.coverage, 1),
        "gaps": m.gaps - previous.gaps,
        "docs": m.docs - previous.docs,
        "entities": m.entities - previous.entities,
    }


def digest_report(analysis: Analysis, scope: str, posted: bool = False) -> ReportResult:
    w = analysis.window(scope)
    metrics = analysis.metrics(scope, w.changes)
    previous = Metrics.from_dict(w.after.metrics) if w.after else None
    gaps = analysis.gaps_of(scope)
    docs = analysis.docs_of(scope)
    platform = scope == PLATFORM_SCOPE
    faults = analysis.faults if platform else []
    name = scope_name(analysis, scope)
    since = _since_text(w)
    empty = not gaps and not docs and not w.changes and not faults

    head = Section(fields=tuple(_digest_fields(analysis, scope, metrics, previous, w)))
    if empty:
        text = (
            f"All clear for {name}: {_count(metrics.entities, 'entity', 'entities')}, every owner "
            f"has people, the docs are in shape, and nothing changed {since}."
        )
        sections: tuple[Section, ...] = (head,)
    else:
        text = " · ".join(_digest_summary(metrics, previous, gaps, docs, w, platform))
        limit = analysis.settings.max_items if posted else None
        lists = _digest_lists(analysis, scope, gaps, docs, w, faults, limit)
        sections = (head, *lists)
    buttons = (
        Button("Ownership gaps", command=_command("ownership-gaps", scope)),
        Button("Docs to fix", command=_command("stale-docs", scope)),
        Button("Changes", command=_command("changes", scope)),
    )
    reply = Reply(
        title="Platform digest" if platform else f"Digest: {name}",
        text=text,
        sections=sections,
        buttons=() if empty else buttons,
        notes=analysis.unchecked_of(scope),
        ephemeral=not posted,
    )
    data: dict[str, Any] = {
        "report": "digest",
        "scope": scope,
        "generated_at": analysis.now.isoformat(),
        "metrics": metrics.to_dict(),
        "previous": previous.to_dict() if previous else None,
        "trend": _trend(metrics, previous),
        "window": _window_data(w),
        "gaps": [f.to_dict() for f in gaps],
        "docs": [f.to_dict() for f in docs],
        "changes": [c.to_dict() for c in w.changes],
    }
    if platform:
        data["worst_offenders"] = [
            {"owner": ref, "gaps": g, "docs": d}
            for ref, g, d in analysis.offenders(analysis.settings.worst_offenders)
        ]
        data["faults"] = [f.to_dict() for f in faults]
    return ReportResult("digest", scope, reply, data, empty, metrics, posted)


def _digest_summary(
    metrics: Metrics,
    previous: Metrics | None,
    gaps: Sequence[Finding],
    docs: Sequence[Finding],
    w: Window,
    platform: bool,
) -> list[str]:
    """The digest's one-line summary: counts, each with its change since the last digest."""
    parts = [_count(metrics.entities, "entity", "entities")]
    if platform and metrics.coverage is not None:
        parts.append(
            f"ownership coverage {metrics.coverage:.1f}%"
            + _delta(metrics.coverage, previous.coverage if previous else None, " pts")
        )
    parts.append(
        _count(len(gaps), "ownership gap") + _delta(len(gaps), previous.gaps if previous else None)
    )
    parts.append(
        _count(len(docs), "docs problem") + _delta(len(docs), previous.docs if previous else None)
    )
    parts.append(f"{_count(len(w.changes), 'change')} {_since_text(w)}")
    return parts


def _digest_fields(
    analysis: Analysis, scope: str, metrics: Metrics, previous: Metrics | None, w: Window
) -> list[Field]:
    """The digest's head: entities, ownership, people (a team) or the mix of kinds (platform)."""
    fields = [Field("Entities", str(metrics.entities))]
    if metrics.coverage is not None:
        fields.append(Field("Ownership", _coverage_text(metrics), inline=False))
    if scope != PLATFORM_SCOPE:
        team = analysis.team(scope)
        people = len(analysis.facts.effective_members(scope)) if team else 0
        fields.append(Field("People", str(people)))
    else:
        by_kind: dict[str, int] = {}
        for item in analysis.facts.items.values():
            by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
        ordered = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(_count(n, KIND_NAMES.get(k, k)) for k, n in ordered)
        fields.append(Field("By kind", shown, inline=False))
    if previous is not None and w.after is not None:
        fields.append(Field("Previous digest", _when(w.after.taken_at), inline=False))
    return fields


def _digest_lists(
    analysis: Analysis,
    scope: str,
    gaps: Sequence[Finding],
    docs: Sequence[Finding],
    w: Window,
    faults: Sequence[Fault],
    limit: int | None,
) -> list[Section]:
    """The digest's lists: worst offenders (platform), gaps, docs, changes, unreachable channels;
    each capped at ``limit`` lines with the command that shows the rest."""
    sections: list[Section] = []
    if scope == PLATFORM_SCOPE and analysis.settings.worst_offenders:
        worst = [
            f"{analysis.owner_label(ref)}: {_count(g, 'gap')}, {_count(d, 'docs problem')}"
            for ref, g, d in analysis.offenders(analysis.settings.worst_offenders)
        ]
        if worst:
            sections.append(Section(title="Worst offenders", items=tuple(worst)))
    capped = (
        ("Ownership gaps", gaps, "ownership-gaps"),
        ("Docs to fix", docs, "stale-docs"),
        ("Catalog changes", w.changes, "changes"),
    )
    for title, found, report in capped:
        if found:
            lines = [f.line_text() for f in found]
            sections.append(
                Section(
                    title=f"{title} ({len(found)})",
                    items=_capped(lines, limit, _command(report, scope)),
                )
            )
    if faults:
        sections.append(
            Section(
                title=f"Channels posts cannot reach ({len(faults)})",
                items=tuple(f.line_text() for f in faults),
            )
        )
    return sections


BUILDERS = {
    "ownership-gaps": ownership_report,
    "stale-docs": docs_report,
    "changes": changes_report,
    "digest": digest_report,
}


def build_report(analysis: Analysis, report: str, scope: str, posted: bool = False) -> ReportResult:
    """Build one report for one scope from an analysis."""
    return BUILDERS[report](analysis, scope, posted)

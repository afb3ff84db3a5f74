"""The replies a campaign posts: the request to each team, reminders, and "is this yours?".

Every action is a ``Button(command=...)``: the platform runs ``/attest confirm …`` (or
``notours``, ``changes``) as the user who clicked, so a click and a typed command are the
same request, checked the same way. A message holds at most ``PER_MESSAGE`` entities, so its
buttons (three each, and three for all) stay within Slack's and Discord's 25.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Sequence

from bot.attest.model import Campaign, Item, shown_duration
from bot.catalog.model import EntityRef
from bot.chat import Button, Field, Reply, Section
from bot.errors import CatalogError
from bot.reports.facts import short_ref
from bot.reports.findings import Finding

PER_MESSAGE = 7


def command_ref(ref: str) -> str:
    """The shortest form of ``ref`` that names it exactly (``component:payments-api``)."""
    try:
        return EntityRef.parse(ref).short()
    except CatalogError:
        return ref


def action(verb: str, campaign: int, ref: str | None = None, team: str | None = None) -> str:
    """``/attest confirm component:payments-api --campaign 3`` (or ``--all <team>``)."""
    words = ["/attest", verb]
    if ref is not None:
        words.append(command_ref(ref))
    if team is not None:
        words += ["--all", command_ref(team)]
    words += ["--campaign", str(campaign)]
    return shlex.join(words)


def when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def item_line(item: Item) -> str:
    label = short_ref(item.entity_ref)
    if item.title and item.title.lower() != label.lower():
        return f"{item.title} ({item.entity_ref})"
    return item.entity_ref


def team_messages(
    campaign: Campaign,
    team: str,
    team_label: str,
    items: Sequence[Item],
    *,
    reminder: bool = False,
) -> list[Reply]:
    """The messages asking ``team`` about ``items`` (its pending ones, for a reminder)."""
    total = len(items)
    chunks = [items[i : i + PER_MESSAGE] for i in range(0, total, PER_MESSAGE)] or [[]]
    what = f"{total} {'entity' if total == 1 else 'entities'}"
    if reminder:
        title = f"Reminder: ownership check {campaign.id} for {team_label}"
        lead = f"{what} still wait for an answer from {team_label}, due {when(campaign.due_at)}."
    else:
        title = f"Ownership check {campaign.id} for {team_label}"
        lead = (
            f"Does {team_label} own these {what}, and is each catalog entry right? Please "
            f"answer by {when(campaign.due_at)}: Confirm, Not ours (say whose, if you know), or "
            "Needs changes (say what). Every answer is recorded with who, when and the "
            "entity's version."
        )
    out: list[Reply] = []
    for index, chunk in enumerate(chunks):
        buttons: list[Button] = []
        for item in chunk:
            name = short_ref(item.entity_ref)
            buttons += [
                Button(
                    f"Confirm {name}",
                    command=action("confirm", campaign.id, item.entity_ref),
                    style="primary",
                ),
                Button(
                    f"Not ours: {name}", command=action("notours", campaign.id, item.entity_ref)
                ),
                Button(
                    f"Needs changes: {name}",
                    command=action("changes", campaign.id, item.entity_ref),
                ),
            ]
        if total > 1:
            buttons += [
                Button("Confirm all", command=action("confirm", campaign.id, team=team)),
                Button("Not ours (all)", command=action("notours", campaign.id, team=team)),
                Button("Needs changes (all)", command=action("changes", campaign.id, team=team)),
            ]
        part = f" ({index + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        out.append(
            Reply(
                title=f"{title}{part}",
                text=lead if index == 0 else None,
                sections=(Section(items=tuple(item_line(i) for i in chunk)),),
                buttons=tuple(buttons),
                ephemeral=False,
            )
        )
    return out


def campaign_fields(campaign: Campaign, now: dt.datetime) -> tuple[Field, ...]:
    state = "closed" if campaign.closed_at else "open" if campaign.open_at(now) else "past due"
    every = campaign.remind_every
    return (
        Field("Scope", campaign.scope or "every kind that needs an owner"),
        Field("Started", f"{when(campaign.created_at)} by {campaign.created_by}"),
        Field("Due", when(campaign.due_at)),
        Field("Reminders", f"every {shown_duration(every)}" if every else "none"),
        Field("State", state),
    )


def named_team_message(
    findings: Sequence[Finding], campaign: int, named_label: str, owner_label: str
) -> Reply:
    """To the team "not ours" answers name: these entities may be theirs."""
    names = ", ".join(short_ref(f.entity) for f in findings)
    return Reply(
        title=f"Is {names if len(findings) == 1 else f'{len(findings)} entities'} yours?",
        text=(
            f"{owner_label} answered ownership check {campaign}: {names} "
            f"{'is' if len(findings) == 1 else 'are'} not theirs, and named {named_label} as "
            "the owner."
        ),
        sections=(Section(title="Ownership gaps", items=tuple(f.line_text() for f in findings)),),
        buttons=tuple(
            Button(f"Who owns {short_ref(f.entity)}", command=f"/whoowns {command_ref(f.entity)}")
            for f in findings[:5]
        ),
        ephemeral=False,
    )

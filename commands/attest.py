"""/attest: ownership attestation campaigns — owners confirm, dispute or correct their entities.

``/attest start [--scope kind:component,lifecycle:production] [--due 14d] [--reminders 3d]``
(admins) posts each owning team's channel the entities in scope with buttons: Confirm, Not
ours (which team owns it, optional), Needs changes (what, required). A button runs
``/attest confirm|notours|changes <entity> --campaign N`` (or ``--all <team>``) as the person
who clicked, the same command one can type at the console. Only members of the owning team
(or of a team below it) and Callboard admins may answer for an entity; the console is run by
the operator, who may. ``/attest status [--campaign N]`` shows progress per team; the
evidence is exported by ``callboard attest report --format csv|json``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.attest.messages import campaign_fields, item_line, when
from bot.attest.model import (
    CONFIRMED,
    DEFAULT_DUE,
    DEFAULT_REMINDERS,
    MAX_NOTE_CHARS,
    NEEDS_CHANGES,
    NOT_OURS,
    Answer,
    Campaign,
    Item,
    campaign_times,
    entity_version,
    latest,
    parse_scope,
    progress,
)
from bot.attest.service import Attestations
from bot.audit import Requester
from bot.chat import (
    Button,
    Dialog,
    DialogErrors,
    DialogField,
    DialogSubmission,
    Field,
    Reply,
    Section,
)
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import BadArguments, NotFound, PermissionDenied, UserError
from bot.permissions import OPERATOR_PLATFORMS, ancestors, is_admin, requester_groups
from bot.reports.facts import short_ref
from commands.admin import require_admin
from commands.common import identify_user

NAME = "attest"
DIALOG_PREFIX = "attest:"
NOT_OURS_DIALOG = "attest:notours"
CHANGES_DIALOG = "attest:changes"
SHOWN = 25  # entities listed in one answer
VERBS = {
    CONFIRMED: "confirmed",
    NOT_OURS: "answered Not ours for",
    NEEDS_CHANGES: "asked changes to",
}


def _service(ctx: Context) -> Attestations:
    service = ctx.services.attest
    if service is None:
        raise UserError("Attestation campaigns are not available: this bot has no store for them.")
    return service


async def _requester(ctx: Context) -> Requester:
    user = ctx.request.user
    try:
        entity, _how = await identify_user(ctx)
    except UserError as exc:
        return Requester(ctx.request.platform, user.id, user.name, None, (), str(exc))
    groups = await ctx.offload(requester_groups, ctx.services.reader, entity.ref)
    return Requester(ctx.request.platform, user.id, user.name, entity.ref, groups)


def _actor(requester: Requester) -> str:
    """Who answered, as kept in the evidence: the catalog User and the chat account."""
    account = f"{requester.platform} {requester.name or requester.id}"
    if requester.user_ref is not None:
        return f"{requester.user_ref} ({account})"
    return account


async def _may_answer(ctx: Context, requester: Requester, team: str, what: str) -> None:
    """``PermissionDenied`` (audited) unless the requester may answer for ``team``'s
    ``what``: a member of the team or of a team below it, or a Callboard admin."""
    if requester.platform in OPERATOR_PLATFORMS:
        return
    why: str | None = None
    if requester.user_ref is None:
        why = (
            f"Only members of {short_ref(team)} and Callboard admins may answer for {what}, and "
            f"I cannot tell who you are in the catalog: {requester.unknown_reason}"
        )
    else:
        memberships = await ctx.offload(ancestors, ctx.services.reader, requester.groups)
        if team in {str(g) for g in memberships}:
            return
        if is_admin(requester, memberships, ctx.services.settings.admins):
            return
        groups = ", ".join(short_ref(str(g)) for g in requester.groups) or "no team"
        why = (
            f"Only members of {short_ref(team)} (or of a team below it) and Callboard admins may "
            f"answer for {what}. You are {requester.user_ref}, a member of {groups}."
        )
    await ctx.services.audit.start(ctx.now, "attest answer", requester, what, {}, "refused", why)
    raise PermissionDenied(why)


async def _exact(ctx: Context, text: str, kinds: Sequence[str] = ()) -> str:
    """The ref ``text`` names exactly (a name or a ref); a close spelling is refused."""
    found = await ctx.catalog.resolve(text.strip(), kinds)
    if found.how == "fuzzy":
        kind = " or ".join(kinds) or "entity"
        raise NotFound(f"Nothing is named “{text}” (the closest {kind} is {found.ref}).")
    return str(found.ref)


async def _campaign(ctx: Context, number: int | None, entity: str | None = None) -> Campaign:
    """Campaign ``number``; else the newest open one asking about ``entity`` (or any)."""
    service = _service(ctx)
    if number is not None:
        found = await service.campaign(number)
        if found is None:
            raise NotFound(
                f"There is no ownership check {number} (/{NAME} status lists the newest)."
            )
        return found
    campaigns = await service.store.campaigns()
    if not campaigns:
        raise NotFound(
            f"No ownership check has been started; an admin starts one with /{NAME} start."
        )
    for campaign in campaigns:
        if not campaign.open_at(ctx.now):
            continue
        if entity is None or await service.store.items(campaign.id, entity=entity):
            return campaign
    return campaigns[0]


# ------------------------------------------------------------------ start and status


async def start_command(ctx: Context, args: Args) -> Reply:
    """Start a campaign (admins): store it, post each owning team its entities."""
    scope = parse_scope(str(args.options["scope"] or ""))
    due, every = campaign_times(
        str(args.options["due"] or DEFAULT_DUE), str(args.options["reminders"] or DEFAULT_REMINDERS)
    )
    requester = await require_admin(ctx, f"/{NAME} start")
    started = await _service(ctx).start(scope, due, every, requester.shown)
    campaign, plan = started.campaign, started.plan
    posted = sorted({(d.scope, d.platform, d.channel) for d in started.deliveries if d.ok})
    failed = [d for d in started.deliveries if not d.ok]
    await ctx.services.audit.start(
        ctx.now,
        "attest start",
        requester,
        f"ownership check {campaign.id}",
        {
            "scope": campaign.scope,
            "due": campaign.due_at.isoformat(),
            "entities": len(plan.items),
            "teams": len(plan.teams),
        },
        "succeeded",
    )
    sections = [Section(fields=campaign_fields(campaign, ctx.now))]
    if posted:
        sections.append(
            Section(
                title=f"Asked in {len(posted)} channels",
                items=tuple(f"{short_ref(t)}: {p} {c}" for t, p, c in posted[:SHOWN]),
            )
        )
    if failed:
        sections.append(
            Section(
                title="Could not post",
                items=tuple(
                    f"{short_ref(d.scope)}: {d.platform} {d.channel}: {d.error}" for d in failed
                ),
            )
        )
    if started.no_channel:
        sections.append(
            Section(
                title="Teams with no channel (they answer with /attest confirm …)",
                items=tuple(short_ref(t) for t in started.no_channel[:SHOWN]),
            )
        )
    if plan.unowned:
        sections.append(
            Section(
                title=f"Not asked, no team owns them ({len(plan.unowned)}): /report ownership-gaps",
                items=tuple(plan.unowned[:SHOWN]),
            )
        )
    return Reply(
        title=f"Ownership check {campaign.id} started",
        text=f"{len(plan.items)} entities of {len(plan.teams)} teams, due {when(campaign.due_at)}.",
        sections=tuple(sections),
        buttons=(Button("Status", command=f"/{NAME} status --campaign {campaign.id}"),),
    )


async def status_command(ctx: Context, args: Args) -> Reply:
    """Progress per team, the ownership gaps found, and the changes asked for."""
    campaign = await _campaign(ctx, args.options["campaign"])
    service = _service(ctx)
    items, answers = await service.state(campaign)
    teams = await ctx.offload(progress, items, answers)  # thousands of items: off the loop
    done = sum(t.answered for t in teams)
    lines = tuple(
        f"{short_ref(t.team)}: {t.answered} of {t.total} answered "
        f"({t.confirmed} confirmed, {t.not_ours} not ours, {t.needs_changes} needs changes"
        f"{f', {t.pending} pending' if t.pending else ''})"
        for t in teams
    )
    sections = [
        Section(fields=campaign_fields(campaign, ctx.now)),
        Section(title="Per team", items=lines[:SHOWN] + _more(len(lines))),
    ]
    gaps = service.disputes(items, answers)
    if gaps:
        sections.append(
            Section(
                title="Ownership gaps (not ours)", items=tuple(g.line_text() for g in gaps[:SHOWN])
            )
        )
    changes = [a for a in latest(answers).values() if a.answer == NEEDS_CHANGES]
    if changes:
        sections.append(
            Section(
                title="Needs changes",
                items=tuple(
                    f"{short_ref(a.entity_ref)}: {a.note} ({a.actor})" for a in changes[:SHOWN]
                ),
            )
        )
    return Reply(
        title=f"Ownership check {campaign.id}: {done} of {len(items)} answered",
        sections=tuple(sections),
    )


def _more(total: int) -> tuple[str, ...]:
    return (f"… and {total - SHOWN} more (callboard attest report)",) if total > SHOWN else ()


# ------------------------------------------------------------------ answers


async def _targets(
    ctx: Context, campaign: Campaign, entity: str | None, team: str | None
) -> list[Item]:
    """The items an answer is for: one entity's, or the team's still unanswered ones."""
    if bool(entity) == bool(team):
        raise BadArguments(
            f"Name one entity, or all of a team's with --all <team>: /{NAME} confirm "
            f"payments-api --campaign {campaign.id}."
        )
    service = _service(ctx)
    if entity:
        found = await service.store.items(campaign.id, entity=entity)
        if not found:
            raise BadArguments(f"{entity} is not in ownership check {campaign.id}.")
        return found
    owned = await service.store.items(campaign.id, team=team)
    if not owned:
        raise BadArguments(f"{team} owns nothing in ownership check {campaign.id}.")
    answered = latest(await service.store.answers(campaign.id))
    return [i for i in owned if i.entity_ref not in answered]


async def _resolved(ctx: Context, args: Args) -> tuple[Campaign, str | None, str | None]:
    entity_text, team_text = args.text("entity"), str(args.options["all"] or "")
    entity = await _exact(ctx, entity_text) if entity_text.strip() else None
    team = await _exact(ctx, team_text, ("group",)) if team_text.strip() else None
    return await _campaign(ctx, args.options["campaign"], entity), entity, team


async def _prepare(
    ctx: Context, campaign: Campaign, entity: str | None, team: str | None
) -> tuple[Requester, list[Item]]:
    """Who answers and for which items, once the campaign is open and they may."""
    if not campaign.open_at(ctx.now):
        ended = campaign.closed_at or campaign.due_at
        raise UserError(
            f"Ownership check {campaign.id} ended on {when(ended)}: it takes no more answers."
        )
    items = await _targets(ctx, campaign, entity, team)
    requester = await _requester(ctx)
    owner = team or (items[0].team_ref if items else "")
    await _may_answer(ctx, requester, owner, entity or f"the entities of {owner}")
    return requester, items


async def _record(
    ctx: Context,
    campaign: Campaign,
    requester: Requester,
    items: Sequence[Item],
    answer: str,
    note: str | None = None,
    named: str | None = None,
) -> Reply:
    service = _service(ctx)
    if not items:
        return Reply(
            text=f"Every entity there already has an answer in ownership check {campaign.id}."
        )
    now = ctx.services.clock()
    current = await ctx.catalog.get_many([i.entity_ref for i in items])
    answers = []
    changed = []
    for item in items:
        entity = current.get(item.entity_ref)
        version = entity_version(entity) if entity is not None else item.version
        if version != item.version:
            changed.append(item.entity_ref)
        answers.append(
            Answer(
                campaign.id,
                item.entity_ref,
                item.team_ref,
                answer,
                _actor(requester),
                str(requester.user_ref) if requester.user_ref else None,
                requester.platform,
                now,
                version,
                note,
                named,
            )
        )
    await service.record(answers)
    who = requester.name or requester.shown
    what = item_line(items[0]) if len(items) == 1 else f"{len(items)} entities"
    team = short_ref(items[0].team_ref)
    sections: list[Section] = []
    if len(items) > 1:
        sections.append(
            Section(items=tuple(item_line(i) for i in items[:SHOWN]) + _more(len(items)))
        )
    notes: list[str] = []
    if changed:
        notes.append(
            f"{len(changed)} changed in the catalog since the check began; the answer is "
            "recorded against the version now"
        )
    if answer == NOT_OURS:
        gaps = service.disputes(items, answers)
        told = await service.notify_named(gaps, campaign.id)
        posted = sorted({f"{d.platform} {d.channel}" for d in told if d.ok})
        if named:
            told_in = (
                f"{short_ref(named)} was told in {', '.join(posted)}"
                if posted
                else f"{short_ref(named)} could not be told: no channel of it is reachable"
            )
            sections.append(Section(title=told_in))
        sections.append(
            Section(
                title="Recorded as ownership gaps", items=tuple(g.line_text() for g in gaps[:SHOWN])
            )
        )
    if note and answer == NEEDS_CHANGES:
        sections.append(Section(fields=(Field("Changes needed", note, inline=False),)))
    reply = Reply(
        text=f"{who} {VERBS[answer]} {what} for {team} (ownership check {campaign.id}).",
        sections=tuple(sections),
        ephemeral=False,
    )
    return reply.with_notes(*notes) if notes else reply


def _note(text: str | None, option: str) -> str | None:
    value = " ".join((text or "").split()) if text else None
    if value and len(value) > MAX_NOTE_CHARS:
        raise BadArguments(
            f"--{option} is too long ({len(value)} characters; at most {MAX_NOTE_CHARS})."
        )
    return value or None


async def confirm_command(ctx: Context, args: Args) -> Reply:
    """Confirm an entity (or all a team's pending ones): ours, and the entry is right."""
    campaign, entity, team = await _resolved(ctx, args)
    requester, items = await _prepare(ctx, campaign, entity, team)
    return await _record(ctx, campaign, requester, items, CONFIRMED)


def _state(campaign: Campaign, entity: str | None, team: str | None) -> dict[str, str]:
    return {"campaign": str(campaign.id), "entity": entity or "", "all": team or ""}


async def notours_command(ctx: Context, args: Args) -> Reply:
    """Not ours: naming the owning team (optional) and why, else a dialog asks."""
    campaign, entity, team = await _resolved(ctx, args)
    requester, items = await _prepare(ctx, campaign, entity, team)
    owner_text, reason = str(args.options["owner"] or ""), _note(args.options["reason"], "reason")
    if not owner_text and not reason:
        what = short_ref(entity) if entity else f"{len(items)} entities"
        return Reply(
            text=f"Not ours: {what}. Which team owns it, if you know?",
            dialog=Dialog(
                id=NOT_OURS_DIALOG,
                title="Not ours",
                submit_label="Record",
                fields=(
                    DialogField("owner", "Which team owns it?", kind="group", required=False),
                    DialogField(
                        "reason",
                        "Why (optional)",
                        kind="multiline",
                        required=False,
                        max_length=MAX_NOTE_CHARS,
                    ),
                ),
                state=_state(campaign, entity, team),
            ),
        )
    named = await _exact(ctx, owner_text, ("group",)) if owner_text else None
    return await _record(ctx, campaign, requester, items, NOT_OURS, reason, named)


async def changes_command(ctx: Context, args: Args) -> Reply:
    """Needs changes: what is wrong in the catalog entry (a dialog asks when not given)."""
    campaign, entity, team = await _resolved(ctx, args)
    requester, items = await _prepare(ctx, campaign, entity, team)
    note = _note(args.options["note"], "note")
    if not note:
        what = short_ref(entity) if entity else f"{len(items)} entities"
        return Reply(
            text=f"Needs changes: {what}. What should change?",
            dialog=Dialog(
                id=CHANGES_DIALOG,
                title="Needs changes",
                submit_label="Record",
                fields=(
                    DialogField(
                        "note", "What should change?", kind="multiline", max_length=MAX_NOTE_CHARS
                    ),
                ),
                state=_state(campaign, entity, team),
            ),
        )
    return await _record(ctx, campaign, requester, items, NEEDS_CHANGES, note)


async def on_dialog(ctx: Context, sub: DialogSubmission) -> Reply | DialogErrors:
    """A Not ours or Needs changes dialog, submitted: checked again, then recorded."""
    try:
        number = int(sub.state.get("campaign", ""))
    except ValueError:
        return Reply(text="This form lost its campaign; click the button again.", error=True)
    campaign = await _campaign(ctx, number)
    entity, team = sub.state.get("entity") or None, sub.state.get("all") or None
    requester, items = await _prepare(ctx, campaign, entity, team)
    if sub.dialog_id == CHANGES_DIALOG:
        note = " ".join((sub.values.get("note") or "").split())
        if not note:
            return DialogErrors({"note": "Say what should change."})
        if len(note) > MAX_NOTE_CHARS:
            return DialogErrors({"note": f"At most {MAX_NOTE_CHARS} characters."})
        return await _record(ctx, campaign, requester, items, NEEDS_CHANGES, note)
    if sub.dialog_id == NOT_OURS_DIALOG:
        owner_text = (sub.values.get("owner") or "").strip()
        named = None
        if owner_text:
            try:
                named = await _exact(ctx, owner_text, ("group",))
            except UserError as exc:
                return DialogErrors({"owner": str(exc)})
        reason = " ".join((sub.values.get("reason") or "").split())[:MAX_NOTE_CHARS] or None
        return await _record(ctx, campaign, requester, items, NOT_OURS, reason, named)
    return Reply(text=f"This form ({sub.dialog_id}) is no longer known.", error=True)


# ------------------------------------------------------------------ the command

CAMPAIGN = Option("campaign", kind="int", minimum=1, help="the ownership check (default: newest)")
ENTITY = Arg("entity", kind="text", required=False, help="an entity's exact name or ref")
ALL = Option("all", kind="text", help="every pending entity of this team")

START = CommandSpec(
    name=f"{NAME} start",
    summary="start an ownership check: each owning team is asked about its entities",
    handler=start_command,
    options=(
        Option("scope", kind="text", help="e.g. kind:component,lifecycle:production"),
        Option("due", kind="text", help=f"how long teams have (default {DEFAULT_DUE})"),
        Option("reminders", kind="text", help=f"remind every (default {DEFAULT_REMINDERS})"),
    ),
    examples=(f"/{NAME} start --scope kind:component,lifecycle:production --due 14d",),
    admin=True,
)
STATUS = CommandSpec(
    name=f"{NAME} status",
    summary="progress per team, ownership gaps and changes asked for",
    handler=status_command,
    options=(CAMPAIGN,),
    examples=(f"/{NAME} status", f"/{NAME} status --campaign 2"),
)
CONFIRM = CommandSpec(
    name=f"{NAME} confirm",
    summary="confirm an entity is your team's and its entry is right",
    handler=confirm_command,
    args=(ENTITY,),
    options=(CAMPAIGN, ALL),
    examples=(f"/{NAME} confirm payments-api", f"/{NAME} confirm --all team-payments"),
)
NOT_OURS_SPEC = CommandSpec(
    name=f"{NAME} notours",
    summary="say an entity is not your team's (and whose it is)",
    handler=notours_command,
    args=(ENTITY,),
    options=(
        CAMPAIGN,
        ALL,
        Option("owner", kind="text", help="the team that owns it, if you know"),
        Option("reason", kind="text", help="why"),
    ),
    examples=(f"/{NAME} notours fraud-scorer --owner team-risk",),
)
CHANGES = CommandSpec(
    name=f"{NAME} changes",
    summary="say an entity's catalog entry needs changes (and which)",
    handler=changes_command,
    args=(ENTITY,),
    options=(CAMPAIGN, ALL, Option("note", kind="text", help="what should change")),
    examples=(f'/{NAME} changes payments-api --note "lifecycle is deprecated now"',),
)
SUBCOMMANDS: dict[str, CommandSpec] = {
    s.word: s for s in (START, STATUS, CONFIRM, NOT_OURS_SPEC, CHANGES)
}


def _line(sub: CommandSpec) -> str:
    return f"{sub.usage.removeprefix(f'/{NAME} ')} — {sub.summary}"


async def attest(ctx: Context, args: Args) -> Reply:
    """``/attest`` alone: the subcommands; any other word is none of them."""
    action = args.text("action").strip().lower()
    if not action:
        return Reply(
            title=f"/{NAME}",
            text="Ownership checks: teams confirm what the catalog says they own.",
            sections=(Section(items=tuple(f"/{NAME} {_line(s)}" for s in SUBCOMMANDS.values())),),
            buttons=(Button("Status", command=f"/{NAME} status"),),
        )
    raise BadArguments(
        f"/{NAME} has no subcommand {action}. Subcommands: {', '.join(SUBCOMMANDS)}."
    )


SPEC = CommandSpec(
    name=NAME,
    summary="Ownership checks: teams confirm, dispute or correct the entities they own.",
    handler=attest,
    args=(
        Arg("action", kind="text", required=False, help=", ".join(SUBCOMMANDS)),
        Arg("rest", kind="words", required=False, help="an entity"),
    ),
    examples=(f"/{NAME} start", f"/{NAME} status", f"/{NAME} confirm payments-api"),
    subcommands=tuple(_line(s) for s in SUBCOMMANDS.values()),
    children=tuple(SUBCOMMANDS.values()),
    dialog_prefix=DIALOG_PREFIX,
    on_dialog=on_dialog,
)

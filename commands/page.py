"""/page <entity> <summary>: page the team on call for an entity, after a confirmation dialog.

The target is the first of the entity, its owning group and that group's parents with a
``pagerduty.com/integration-key`` (a PagerDuty Events API v2 trigger) or an
``opsgenie.com/team`` (an Opsgenie alert to that team). Who may page is ``oncall.page.allowed``
(catalog groups or users; empty: any catalog User; the console operator always). Every page,
refusal and failure is audited; the same summary for the same entity within
``oncall.page.dedup_minutes`` is a duplicate and is not sent again.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from bot.audit import Requester
from bot.catalog.model import Entity
from bot.chat import Dialog, DialogErrors, DialogField, DialogSubmission, Field, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from bot.oncall.model import ProviderError
from bot.oncall.paging import SEVERITIES, Page, PageTarget, page_target_of
from bot.oncall.settings import OnCallSettings
from bot.permissions import OPERATOR_PLATFORMS, ancestors, is_admin
from commands.common import requester_of
from commands.oncall import responsible_chain

ACTION = "page"
DIALOG = "page:confirm"


def _settings(ctx: Context) -> OnCallSettings:
    return ctx.services.settings.optional_section("oncall", OnCallSettings) or OnCallSettings()


async def _refusal(ctx: Context, requester: Requester) -> str | None:
    """Why the requester may not page (None: they may)."""
    if requester.platform in OPERATOR_PLATFORMS:
        return None
    if requester.user_ref is None:
        return (
            f"Only people known to the catalog may page. {requester.unknown_reason or ''}".strip()
        )
    allowed = _settings(ctx).page_allowed
    if not allowed:
        return None
    memberships = await ctx.offload(ancestors, ctx.services.reader, requester.groups)
    if is_admin(requester, memberships, allowed):
        return None
    return (
        f"{requester.user_ref} may not page: only {', '.join(allowed)} may "
        "(`oncall.page.allowed` in the config file)."
    )


async def _target(ctx: Context, entity: Entity) -> tuple[Entity, PageTarget] | None:
    for candidate in await responsible_chain(ctx.catalog, entity):
        target = page_target_of(candidate.annotations)
        if target is not None:
            return candidate, target
    return None


def dedup_key(entity: str, summary: str) -> str:
    digest = hashlib.sha256(f"{entity}\n{' '.join(summary.lower().split())}".encode()).hexdigest()
    return f"callboard-{digest[:20]}"


async def _audit_refused(ctx: Context, requester: Requester, target: str, why: str) -> None:
    await ctx.services.audit.start(
        ctx.services.clock(), ACTION, requester, target, {}, result="refused", message=why
    )


async def page(ctx: Context, args: Args) -> Reply:
    """Check the target and the permission, then ask for severity and details."""
    name, summary = args.text("entity"), " ".join(args.text("summary").split())
    found = await ctx.catalog.resolve(name)
    if found.how == "fuzzy":
        return Reply(
            text=f"Nothing is named “{name}” (the closest is {found.ref}); a page needs the "
            f"exact name: /page {found.ref} {summary}",
            error=True,
        )
    entity = await ctx.catalog.get(found.ref)
    if entity is None:
        return Reply(text=f"{found.ref} is no longer in the catalog.", error=True)
    requester = await requester_of(ctx)
    why = await _refusal(ctx, requester)
    if why:
        await _audit_refused(ctx, requester, str(entity.ref), why)
        return Reply(text=why, error=True)
    where = await _target(ctx, entity)
    if where is None:
        return Reply(
            text=f"Nobody can be paged for {entity.ref}: neither it, its owner nor the owner's "
            "parent groups have pagerduty.com/integration-key or opsgenie.com/team.",
            error=True,
        )
    whose, target = where
    pager = ctx.services.pager
    unable = "paging is not configured" if pager is None else pager.can_send(target)
    if unable:
        return Reply(text=f"Cannot page {entity.ref}: {unable}.", error=True)
    dialog = Dialog(
        id=DIALOG,
        title="Page on-call",
        submit_label="Page",
        fields=(
            DialogField(
                "severity",
                "Severity",
                kind="choice",
                default="critical",
                choices=tuple((s, s.capitalize()) for s in SEVERITIES),
            ),
            DialogField("details", "Details", kind="multiline", required=False, max_length=2000),
        ),
        state={"entity": str(entity.ref), "summary": summary, "whose": str(whose.ref)},
    )
    text = f"Page {target.shown} for {entity.ref} (from {whose.ref}): “{summary}”?"
    return Reply(text=text, dialog=dialog, ephemeral=True)


async def confirmed(ctx: Context, sub: DialogSubmission) -> Reply | DialogErrors:
    """Send the page (once within the dedup window), audited."""
    severity = sub.values.get("severity") or "critical"
    if severity not in SEVERITIES:
        return DialogErrors({"severity": f"one of {', '.join(SEVERITIES)}"})
    ref, summary = sub.state.get("entity", ""), sub.state.get("summary", "")
    entity = await ctx.catalog.get(ref)
    if entity is None:
        return Reply(text=f"{ref} is no longer in the catalog: nothing was paged.", error=True)
    requester = await requester_of(ctx)
    why = await _refusal(ctx, requester)
    if why:
        await _audit_refused(ctx, requester, ref, why)
        return Reply(text=why, error=True)
    where = await _target(ctx, entity)
    pager = ctx.services.pager
    if where is None or pager is None:
        return Reply(text=f"Nobody can be paged for {ref} any more: nothing was sent.", error=True)
    _whose, target = where
    now = ctx.services.clock()
    key = dedup_key(ref, summary)
    window = dt.timedelta(minutes=_settings(ctx).dedup_minutes)
    if window:
        earlier = await ctx.services.audit.entries(action=ACTION, target=ref, since=now - window)
        for entry in earlier:
            if entry.result == "sent" and entry.details.get("dedup_key") == key:
                return Reply(
                    text=f"Already paged: {entry.actor} paged {target.shown} for {ref} with "
                    f"“{summary}” at {entry.at:%H:%M} UTC; not sent again.",
                    sections=(Section(fields=(Field("Reference", entry.message or key),)),),
                )
    details = sub.values.get("details") or ""
    entry_id = await ctx.services.audit.start(
        now,
        ACTION,
        requester,
        ref,
        {
            "summary": summary,
            "severity": severity,
            "provider": target.provider,
            "dedup_key": key,
            "details": details,
        },
    )
    try:
        sent = await pager.send(target, Page(ref, summary, severity, details, requester.shown, key))
    except ProviderError as e:
        await ctx.services.audit.finish(entry_id, ctx.services.clock(), "failed", str(e))
        return Reply(
            text=f"{target.provider} did not take the page: {e}. Nothing was sent; try again "
            "or page by phone.",
            error=True,
        )
    await ctx.services.audit.finish(entry_id, ctx.services.clock(), "sent", sent.reference)
    return Reply(
        title=f"Paged {target.shown}",
        text=f"Paged {target.shown} for {ref} ({severity}): “{summary}”.",
        sections=(Section(fields=(Field("Reference", sent.reference),)),),
    )


SPEC = CommandSpec(
    name="page",
    summary="Page the team on call for an entity (PagerDuty or Opsgenie), after confirming.",
    handler=page,
    args=(
        Arg("entity", kind="text", help="the exact name or ref (quote a name with spaces)"),
        Arg("summary", kind="words", help="what is wrong, in one line"),
    ),
    dialog_prefix="page:",
    on_dialog=confirmed,
    examples=('/page payments-api "checkout fails for every card"',),
)

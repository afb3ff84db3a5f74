"""/subscribe, /unsubscribe, /subscriptions: a channel follows an entity, a system or a team.

After each catalog sync, a followed team's changes (entities added, moved in or out, removed,
owner unknown, docs stale), a followed system's entities' changes, or a followed entity's, are
posted to the channel with the change notifications (``bot.notify``).
"""

from __future__ import annotations

from bot.catalog.model import EntityRef
from bot.chat import Button, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from bot.errors import BadArguments, CatalogError, UserError
from bot.notify.model import ENTITY, SYSTEM, TEAM, Subscription
from bot.notify.settings import NotificationsSettings
from bot.ports import SubscriptionStore

MAX_PER_CHANNEL = 100
KIND_OF = {"group": TEAM, "system": SYSTEM}
WHAT = {
    TEAM: "the team's entities: added, moved in or out, removed, owner unknown, docs stale",
    SYSTEM: "the changes to the system's entities",
    ENTITY: "the changes to it",
}


def _store(ctx: Context) -> SubscriptionStore:
    store = ctx.services.subscriptions
    if store is None:
        raise UserError("Subscriptions are not available in this Callboard (no store).")
    return store


def _channel(ctx: Context, verb: str) -> tuple[str, str]:
    channel = ctx.request.channel
    if not channel:
        where = (
            "set console.channel in the config"
            if ctx.request.platform == "console"
            else "ask in a channel"
        )
        raise BadArguments(f"/{verb} works in a channel, and this conversation has none: {where}.")
    return ctx.request.platform, channel


def _off_note(ctx: Context) -> tuple[str, ...]:
    found = ctx.services.settings.optional_section("notifications", NotificationsSettings)
    if found is not None and found.enabled:
        return ()
    return (
        "Change notifications are off here: nothing is posted until the config has a "
        "notifications: section.",
    )


async def subscribe(ctx: Context, args: Args) -> Reply:
    """Make this channel follow the entity, system or team named."""
    platform, channel = _channel(ctx, "subscribe")
    store = _store(ctx)
    entity = args.entity("target")
    kind = KIND_OF.get(entity.ref.kind, ENTITY)
    target = str(entity.ref)
    current = await store.of_channel(platform, channel)
    if len(current) >= MAX_PER_CHANNEL and all(s.target != target for s in current):
        raise BadArguments(
            f"This channel follows {len(current)} things already (at most {MAX_PER_CHANNEL}): "
            "/unsubscribe from some first, or follow their team or system instead."
        )
    who = ctx.user.name or ctx.user.id
    added = await store.subscribe(
        Subscription(platform, channel, target, kind, f"{platform}:{who}", ctx.now)
    )
    name = f"{entity.display_name} ({entity.ref})"
    text = (
        f"This channel now follows {name}: after each catalog sync it hears of {WHAT[kind]}."
        if added
        else f"This channel already follows {name}."
    )
    return Reply(
        text=text,
        notes=_off_note(ctx),
        buttons=(Button("Unsubscribe", command=f"/unsubscribe {target}"),),
    )


async def unsubscribe(ctx: Context, args: Args) -> Reply:
    """Stop this channel following what it follows (the entity may be gone from the catalog)."""
    platform, channel = _channel(ctx, "unsubscribe")
    store = _store(ctx)
    text = args.text("target").strip()
    current = await store.of_channel(platform, channel)
    target = _followed(text, [s.target for s in current])
    if target is None:
        found = await ctx.catalog.resolve(text)
        target = str(found.ref)
    if not await store.unsubscribe(platform, channel, target):
        followed = ", ".join(s.label for s in current) or "nothing"
        raise BadArguments(f"This channel does not follow {target}. It follows: {followed}.")
    return Reply(text=f"This channel no longer follows {target}.")


def _followed(text: str, targets: list[str]) -> str | None:
    """The followed ref ``text`` names exactly (a ref, or a name with a kind's default)."""
    lowered = text.lower()
    for target in targets:
        if lowered == target:
            return target
    for target in targets:
        kind = target.partition(":")[0]
        try:
            if str(EntityRef.parse(text, kind)) == target:
                return target
        except CatalogError:
            return None
    return None


async def subscriptions(ctx: Context, args: Args) -> Reply:
    """What this channel follows."""
    platform, channel = _channel(ctx, "subscriptions")
    current = await _store(ctx).of_channel(platform, channel)
    if not current:
        return Reply(
            text="This channel follows nothing. /subscribe <entity, system or team> to hear "
            "of its changes after each catalog sync.",
            notes=_off_note(ctx),
        )
    items = tuple(f"{s.target} ({s.kind}), since {s.created_at:%Y-%m-%d}" for s in current)
    return Reply(
        title="This channel follows",
        sections=(Section(items=items),),
        buttons=tuple(
            Button(f"Unsubscribe {s.label}", command=f"/unsubscribe {s.target}")
            for s in current[:5]
        ),
        notes=_off_note(ctx),
    )


SUBSCRIBE = CommandSpec(
    name="subscribe",
    summary="Follow an entity, a system or a team here: its changes after each catalog sync.",
    handler=subscribe,
    args=(Arg("target", help="an entity, a system or a team (Group)"),),
    aliases=("follow",),
    examples=("/subscribe team-payments", "/subscribe system:payments", "/subscribe payments-api"),
)

UNSUBSCRIBE = CommandSpec(
    name="unsubscribe",
    summary="Stop following an entity, a system or a team here.",
    handler=unsubscribe,
    args=(Arg("target", kind="words", help="what this channel follows"),),
    aliases=("unfollow",),
    examples=("/unsubscribe team-payments",),
)

SUBSCRIPTIONS = CommandSpec(
    name="subscriptions",
    summary="What this channel follows (/subscribe).",
    handler=subscriptions,
    examples=("/subscriptions",),
)

"""/here: which group this channel belongs to, and who you are in the catalog.

The channel mapping is what makes ``/owns`` (and channel digests) default to a team: a Group
whose ``slack.com/channel-id`` / ``discord.com/channel-id`` annotation is this channel's id.
``here_reply`` is the whole answer, so an umbrella command (``/callboard here``) can reuse it.
"""

from __future__ import annotations

from bot.annotations import CHANNEL_ID_ANNOTATIONS, SLACK_CHANNEL_ID
from bot.chat import Button, Field, Reply, Section
from bot.dispatch import Args, CommandSpec, Context
from bot.errors import UserError
from commands.common import (
    channel_groups,
    command_line,
    identify_user,
)

MAPPING_KEYS = CHANNEL_ID_ANNOTATIONS


async def here(ctx: Context, args: Args) -> Reply:
    """This channel's group (the default for /owns) and your catalog User."""
    return await here_reply(ctx)


async def here_reply(ctx: Context) -> Reply:
    """The channel → group mapping and the chat user → User mapping, with how to fix either."""
    request = ctx.request
    channel = request.channel
    fields = [Field("Platform", request.platform)]
    sections: list[Section] = []
    buttons: list[Button] = []
    if not channel:
        where = (
            "console.channel is not set in the config"
            if request.platform == "console"
            else "this conversation has no channel"
        )
        fields.append(Field("Channel", f"none ({where})"))
        text = "No channel here, so /owns needs a team or person."
    else:
        fields.append(Field("Channel", channel))
        groups, key = await channel_groups(ctx)
        if len(groups) == 1:
            group = groups[0]
            fields.append(Field("Group", f"{group.display_name} ({group.ref})"))
            fields.append(Field("Matched by", key or ""))
            text = f"This channel belongs to {group.ref}: /owns with no argument shows its list."
            buttons.append(Button(f"What {group.name} owns", command=command_line("owns")))
        elif groups:
            fields.append(Field("Groups", ", ".join(str(g.ref) for g in groups)))
            text = (
                f"This channel is mapped to {len(groups)} groups (by {key}), so /owns cannot "
                "pick one: keep the annotation on one group only."
            )
        else:
            annotation = MAPPING_KEYS.get(request.platform, SLACK_CHANNEL_ID)
            text = "This channel is not mapped to a group."
            sections.append(
                Section(
                    title="To map it",
                    text=(
                        "Add to the Group's catalog entry:\n"
                        f'metadata:\n  annotations:\n    {annotation}: "{channel}"'
                    ),
                )
            )
    try:
        user, how = await identify_user(ctx)
        fields.append(Field("You", f"{user.display_name} ({user.ref}), matched by {how}"))
    except UserError as exc:
        fields.append(Field("You", f"not found: {exc}", inline=False))
    return Reply(
        title="This channel",
        text=text,
        sections=(Section(fields=tuple(fields)), *sections),
        buttons=tuple(buttons),
    )


SPEC = CommandSpec(
    name="here",
    summary="Which group this channel belongs to (the default for /owns), and who you are.",
    handler=here,
    examples=("/here",),
)

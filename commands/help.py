"""/help: the commands, generated from the registry; /help <command> for one."""

from __future__ import annotations

from bot.chat import Field, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context


async def help_command(ctx: Context, args: Args) -> Reply:
    """List every command, or explain one."""
    dispatcher = ctx.dispatcher
    name = args.text("command").lstrip("/")
    if name:
        spec = dispatcher.command(name)
        if spec is None:
            return await dispatcher.dispatch(
                type(ctx.request)(text=f"/{name}", user=ctx.user, platform=ctx.request.platform)
            )
        fields = [Field("Usage", spec.usage, inline=False)]
        for arg in spec.args:
            fields.append(Field(f"<{arg.name}>", arg.help or arg.kind, inline=False))
        for opt in spec.options:
            fields.append(Field(f"--{opt.name}", opt.help or opt.kind, inline=False))
        if spec.aliases:
            fields.append(Field("Also", ", ".join(f"/{a}" for a in spec.aliases)))
        sections = [Section(fields=tuple(fields))]
        if spec.examples:
            sections.append(Section(title="Examples", items=spec.examples))
        if spec.subcommands:
            sections.append(Section(title="Subcommands", items=spec.subcommands))
        return Reply(title=f"/{spec.name}", text=spec.summary, sections=tuple(sections))
    items = tuple(f"{c.usage} — {c.summary}" for c in dispatcher.commands if not c.admin)
    admin = tuple(f"{c.usage} — {c.summary}" for c in dispatcher.commands if c.admin)
    sections = [Section(title="Commands", items=items)]
    if admin:
        sections.append(Section(title="Admin", items=admin))
    return Reply(
        title="Callboard",
        text="Ask about your service catalog. Names can be misspelt: I suggest the closest.",
        sections=tuple(sections),
    )


SPEC = CommandSpec(
    name="help",
    summary="What Callboard can do; /help <command> for one command.",
    handler=help_command,
    args=(Arg("command", kind="text", required=False, help="a command name"),),
    examples=("/help", "/help whoowns"),
)

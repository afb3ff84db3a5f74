"""/scaffold: list the templates, or open one's dialog and create the project it describes."""

from __future__ import annotations

from bot.audit import Requester
from bot.chat import Button, DialogErrors, DialogSubmission, Field, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import NotFound
from bot.scaffold.model import InvalidAnswers, Template
from bot.scaffold.service import DIALOG_PREFIX, Scaffolder

BUTTONS_SHOWN = 5


async def requester_for(ctx: Context) -> Requester:
    """The chat user as the scaffolder sees them: their catalog User and groups, if found."""
    return await ctx.services.scaffolder.requester_for(ctx.request.user)


async def scaffold(ctx: Context, args: Args) -> Reply:
    """Without a template, list them; with one, open its dialog (after the permission check)."""
    service = ctx.services.scaffolder
    name = args.text("template")
    if not name:
        return await _listing(service)
    listing = await service.listing()
    try:
        template = await service.template(name, listing)
    except NotFound as exc:  # offer the templates there are, as buttons
        return Reply(
            text=str(exc),
            buttons=tuple(
                Button(t.title, command=f"/scaffold {t.name}")
                for t in listing.usable[:BUTTONS_SHOWN]
            ),
            error=True,
        )
    requester = await requester_for(ctx)
    await service.check_permission(template, requester)
    dry_run = bool(args.options.get("dry-run"))
    dialog = await service.dialog(template, requester, dry_run=dry_run)
    what = "a dry run of " if dry_run else ""
    return Reply(
        text=f"{template.title}: fill in the dialog to start {what}a new project.",
        dialog=dialog,
    )


async def on_dialog(ctx: Context, submission: DialogSubmission) -> Reply | DialogErrors:
    """Check the values (errors go back to their fields), then run the scaffold."""
    service = ctx.services.scaffolder
    state = submission.state
    name = state.get("template") or submission.dialog_id[len(DIALOG_PREFIX) :]
    try:
        return await service.submit(
            name,
            submission.values,
            await requester_for(ctx),
            ctx.progress,
            dry_run=state.get("dry_run") == "1",
            digest=state.get("digest") or None,
        )
    except InvalidAnswers as exc:
        return DialogErrors(exc.errors)


async def _listing(service: Scaffolder) -> Reply:
    listing = await service.listing()
    usable = listing.usable
    sections = [_card(t) for t in usable]
    unusable = [t for t in listing.templates if not t.usable]
    if unusable:
        sections.append(
            Section(
                title="Not available",
                items=tuple(f"{t.name}: {t.problems[0]}" for t in unusable),
            )
        )
    if not usable:
        text = "No templates are available. Add folders or repositories to scaffold.templates."
    else:
        text = (
            "Pick one: /scaffold <template> opens a dialog for its details. New projects are "
            f"pushed to {service.publisher.describe()} and registered in the catalog."
        )
    return Reply(
        title=f"Templates ({len(usable)})",
        text=text,
        sections=tuple(sections),
        buttons=tuple(
            Button(t.title, command=f"/scaffold {t.name}") for t in usable[:BUTTONS_SHOWN]
        ),
        notes=listing.problems,
    )


def _card(template: Template) -> Section:
    fields = [Field("Template", template.name)]
    if template.owner:
        fields.append(Field("Owner", template.owner))
    fields.append(Field("From", template.origin, inline=False))
    if template.has_hooks:
        fields.append(Field("Hooks", "run (trusted)" if template.trusted else "off (not trusted)"))
    return Section(title=template.title, text=template.description, fields=tuple(fields))


SPEC = CommandSpec(
    name="scaffold",
    summary="Create a project from a template: a repository and a catalog entry.",
    handler=scaffold,
    args=(Arg("template", kind="text", required=False, help="a template name (none: list them)"),),
    options=(Option("dry-run", "flag", "render and list the files; publish nothing"),),
    examples=("/scaffold", "/scaffold python-service", "/scaffold python-service --dry-run"),
    dialog_prefix=DIALOG_PREFIX,
    on_dialog=on_dialog,
)

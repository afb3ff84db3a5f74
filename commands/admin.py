"""/callboard: the admin commands — sync the catalog now, and each source's status.

``/callboard sync [source] [--force]`` syncs every source (or one) and replies with what
changed; ``/callboard status [source] [--page N]`` shows each source's last success, last
error, entity count, duration and problems, newest first; ``/callboard here`` is ``/here``.
Each subcommand is a command of its own (``SYNC``, ``STATUS``, ``HERE``) with its own
arguments and options; the dispatcher routes ``/callboard <word>`` to it.

Who may: ``sync`` and ``status`` are for admins, the catalog Users and Groups listed under
``admins:`` in the config (a member of a listed group or of any group below it counts). The
console is run by whoever holds the config and the database, like the ``callboard`` command
line, so it may. Each admin action is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from bot import suggest
from bot.audit import Requester
from bot.catalog.model import EntityRef
from bot.catalog.status import SourceStatus
from bot.catalog.sync import SourceReport, SyncReport
from bot.chat import Button, Field, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import BadArguments, PermissionDenied
from bot.permissions import admin_refusal, ancestors
from bot.ports import SourceStatusReads
from bot.scaffold.service import unavailable_section
from commands.common import command_line, requester_of
from commands.here import here_reply

NAME = "callboard"
CHANGES_SHOWN = 15
PROBLEMS_SHOWN = 5  # per source in the overview
PROBLEMS_PAGE = 25  # for one source


# ------------------------------------------------------------------ permission


async def require_admin(ctx: Context, what: str) -> Requester:
    """The requester, when they may run admin commands; else ``PermissionDenied`` saying why."""
    requester = await requester_of(ctx)
    admins = ctx.services.settings.admins
    memberships: set[EntityRef] = set()
    if admins and requester.user_ref is not None and requester.groups:
        memberships = await ctx.offload(ancestors, ctx.services.reader, requester.groups)
    refused = admin_refusal(what, requester, memberships, admins, ctx.services.settings.path)
    if refused is None:
        return requester
    await ctx.services.audit.start(
        ctx.now, what.lstrip("/"), requester, "catalog", {}, "refused", refused
    )
    raise PermissionDenied(refused)


# ------------------------------------------------------------------ sync


def _source_name(ctx: Context, text: str) -> str | None:
    """The source named ``text`` (``None`` for all); ``BadArguments`` with suggestions."""
    text = text.strip()
    if not text:
        return None
    names = ctx.services.sync.source_names()
    if text in names:
        return text
    hint = suggest.hint(text, names)
    known = ", ".join(names) or "none are configured"
    raise BadArguments(f"There is no catalog source named {text} (sources: {known}).{hint}")


async def sync_command(ctx: Context, args: Args) -> Reply:
    """Sync every source, or one, now; reply with what changed."""
    only = _source_name(ctx, args.text("source"))
    requester = await require_admin(ctx, f"/{NAME} sync")
    audit = ctx.services.audit
    target = only or "all sources"
    force = bool(args.options["force"])
    entry = await audit.start(ctx.now, f"{NAME} sync", requester, target, {"force": force})
    try:
        report = await ctx.services.sync.run_async(only=only, force=force)
    except Exception as exc:
        await audit.finish(entry, ctx.services.clock(), "failed", f"{type(exc).__name__}: {exc}")
        raise
    failed = [s.name for s in report.sources if not s.ok]
    await audit.finish(
        entry,
        ctx.services.clock(),
        "failed" if failed else "succeeded",
        f"failed: {', '.join(failed)}" if failed else None,
        {
            s.name: {"added": len(s.added), "removed": len(s.removed), "ok": s.ok}
            for s in report.sources
        },
    )
    return await _with_templates(ctx, sync_reply(report))


async def _with_templates(ctx: Context, reply: Reply) -> Reply:
    """``reply`` with the templates that cannot be run (issue 15: never silently invisible)."""
    section = await unavailable_section(ctx.services.scaffolder)
    if section is None:
        return reply
    return replace(reply, sections=(*reply.sections, section))


def _change_lines(source: SourceReport) -> list[str]:
    lines = [f"+ {ref}" for ref in source.added]
    lines += [f"− {ref}" for ref in source.removed]
    lines += [
        f"owner of {ref}: {old or 'none'} → {new or 'none'}"
        for ref, old, new in source.owner_changed
    ]
    lines += [f"~ {ref}" for ref in source.modified]
    return lines


def sync_reply(report: SyncReport) -> Reply:
    """What a sync did, per source: changes (added, removed, owner changed, modified) and
    problems; a failed source says why and that its last good entities were kept."""
    if not report.sources:
        return Reply(title="Catalog sync", text="No catalog sources are configured.", error=True)
    sections: list[Section] = []
    failed = 0
    for source in report.sources:
        if not source.ok:
            failed += 1
            sections.append(
                Section(
                    title=f"{source.name}: FAILED",
                    text=f"{source.error}\nIts last good entities are kept.",
                    fields=(Field("Duration", f"{source.duration_s:.1f}s"),),
                )
            )
            continue
        changes = _change_lines(source)
        summary = (
            f"{len(source.added)} added, {len(source.removed)} removed, "
            f"{len(source.owner_changed)} owner changes, {len(source.modified)} modified"
        )
        errors = sum(1 for p in source.problems if p.level == "error")
        fields = [
            Field("Entities", str(source.entities)),
            Field("Changes", summary if changes else "none"),
            Field("Files", f"{source.files_parsed} of {source.files_read} parsed"),
            Field("Duration", f"{source.duration_s:.1f}s"),
        ]
        if source.problems:
            fields.append(
                Field(
                    "Problems",
                    f"{errors} errors, {len(source.problems) - errors} warnings "
                    f"(/{NAME} status {source.name})",
                    inline=False,
                )
            )
        shown = changes[:CHANGES_SHOWN]
        if len(changes) > CHANGES_SHOWN:
            shown.append(f"… and {len(changes) - CHANGES_SHOWN} more (`callboard sync` lists all)")
        sections.append(
            Section(title=f"{source.name}: ok", fields=tuple(fields), items=tuple(shown))
        )
    ok = len(report.sources) - failed
    text = f"{len(report.sources)} source{'s' if len(report.sources) != 1 else ''} synced: {ok} ok"
    if failed:
        text += f", {failed} failed"
    return Reply(
        title="Catalog sync",
        text=text + ".",
        sections=tuple(sections),
        buttons=(Button("Status", command=f"/{NAME} status"),),
        error=failed > 0,
    )


# ------------------------------------------------------------------ status


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 90:
        ago = f"{seconds}s ago"
    elif seconds < 90 * 60:
        ago = f"{seconds // 60} min ago"
    elif seconds < 48 * 3600:
        ago = f"{seconds // 3600} h ago"
    else:
        ago = f"{seconds // 86400} days ago"
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC ({ago})"


def _status_fields(status: SourceStatus, now: dt.datetime) -> list[Field]:
    fields = [
        Field("State", status.state + ("" if status.configured else " (no longer configured)")),
        Field("Type", status.type),
        Field("Entities", str(status.entity_count)),
        Field("Last success", _when(status.last_success, now)),
    ]
    if status.last_error:
        fields.append(Field("Last attempt", _when(status.last_attempt, now)))
        fields.append(Field("Last error", status.last_error, inline=False))
    if status.duration_ms is not None:
        fields.append(Field("Duration", f"{status.duration_ms / 1000:.1f}s"))
    if status.location:
        fields.append(Field("Location", status.location, inline=False))
    fields.append(
        Field(
            "Problems",
            f"{status.error_count} errors, {status.problem_count - status.error_count} warnings",
        )
    )
    return fields


async def status_command(ctx: Context, args: Args) -> Reply:
    """Each source's last success, last error, entity count, duration and problems."""
    only = _source_name(ctx, args.text("source")) if args.text("source").strip() else None
    await require_admin(ctx, f"/{NAME} status")
    reply = await status_reply(
        ctx.services.status,
        ctx.services.sync.source_names(),
        ctx.now,
        only,
        int(args.options.get("page") or 1),
    )
    return reply if only else await _with_templates(ctx, reply)


async def status_reply(
    store: SourceStatusReads,
    order: Sequence[str],
    now: dt.datetime,
    only: str | None = None,
    page: int = 1,
) -> Reply:
    """The status overview (every source, a few problems each) or one source's page."""
    if only is None:
        statuses = await store.statuses(order, problem_limit=PROBLEMS_SHOWN)
        if not statuses:
            return Reply(title="Catalog sources", text="No catalog sources are configured.")
        sections = []
        for status in statuses:
            items = [str(p) for p in status.problems]
            if status.problem_count > len(items):
                items.append(
                    f"… {status.problem_count - len(items)} more: /{NAME} status {status.name}"
                )
            sections.append(
                Section(
                    title=status.name,
                    fields=tuple(_status_fields(status, now)),
                    items=tuple(items),
                )
            )
        failing = [s.name for s in statuses if s.state == "failing"]
        never = [s.name for s in statuses if s.state == "never synced" and s.configured]
        text = f"{len(statuses)} source{'s' if len(statuses) != 1 else ''}"
        if failing or never:
            text += "".join(
                f"; {label}: {', '.join(names)}"
                for label, names in (("failing", failing), ("never synced", never))
                if names
            )
            text += "."
        else:
            text += ", all ok."
        return Reply(
            title="Catalog sources",
            text=text,
            sections=tuple(sections),
            buttons=(Button("Sync now", command=f"/{NAME} sync", style="primary"),),
            error=bool(failing or never),
        )
    offset = (page - 1) * PROBLEMS_PAGE
    (status,) = await store.statuses(
        order, only=only, problem_limit=PROBLEMS_PAGE, problem_offset=offset
    )
    sections = [Section(fields=tuple(_status_fields(status, now)))]
    if status.problems:
        last = offset + len(status.problems)
        sections.append(
            Section(
                title=f"Problems {offset + 1}–{last} of {status.problem_count}, newest first",
                items=tuple(str(p) for p in status.problems),
            )
        )
    elif page > 1:
        sections.append(Section(text=f"No problems on page {page}."))
    more = None
    if offset + len(status.problems) < status.problem_count:
        more = command_line(NAME, "status", only, page=page + 1)
    return Reply(
        title=f"Catalog source {status.name}",
        text=f"{status.name} is {status.state}.",
        sections=tuple(sections),
        buttons=(Button("Sync now", command=f"/{NAME} sync {only}", style="primary"),),
        more=more,
        error=status.state != "ok",
    )


# ------------------------------------------------------------------ the umbrella


async def here_command(ctx: Context, args: Args) -> Reply:
    """This channel's group and your catalog User (the same as /here)."""
    return await here_reply(ctx)


SOURCE = Arg("source", kind="text", required=False, help="a catalog source's name")

SYNC = CommandSpec(
    name=f"{NAME} sync",
    summary="sync now and show what changed",
    handler=sync_command,
    args=(SOURCE,),
    options=(Option("force", help="parse every file, even unchanged ones"),),
    examples=(f"/{NAME} sync", f"/{NAME} sync demo --force"),
    admin=True,
)
STATUS = CommandSpec(
    name=f"{NAME} status",
    summary="each source's last success, error, entities, duration, problems",
    handler=status_command,
    args=(SOURCE,),
    options=(Option("page", kind="int", default=1, minimum=1, help="page of problems"),),
    examples=(f"/{NAME} status", f"/{NAME} status demo --page 2"),
    admin=True,
)
HERE = CommandSpec(
    name=f"{NAME} here",
    summary="this channel's group and who you are in the catalog",
    handler=here_command,
)
# The subcommands, each a command the dispatcher routes /callboard <word> to.
SUBCOMMANDS: dict[str, CommandSpec] = {s.word: s for s in (SYNC, STATUS, HERE)}


def _line(sub: CommandSpec) -> str:
    return f"{sub.usage.removeprefix(f'/{NAME} ')} — {sub.summary}"


async def callboard(ctx: Context, args: Args) -> Reply:
    """Run a /callboard subcommand (sync, status, here)."""
    action = args.text("action").strip().lower()
    if not action:
        return Reply(
            title=f"/{NAME}",
            text="Admin commands for the catalog.",
            sections=(Section(items=tuple(f"/{NAME} {_line(s)}" for s in SUBCOMMANDS.values())),),
            buttons=(Button("Status", command=f"/{NAME} status"),),
        )
    # The dispatcher routes a subcommand's word to it: any other word is none of them.
    hint = suggest.hint(action, SUBCOMMANDS, f"/{NAME} ")
    raise BadArguments(
        f"/{NAME} has no subcommand {action}.{hint} Subcommands: {', '.join(SUBCOMMANDS)}."
    )


SPEC = CommandSpec(
    name=NAME,
    summary="Admin: sync the catalog now, each source's status.",
    handler=callboard,
    args=(
        Arg("action", kind="text", required=False, help="sync, status or here"),
        Arg("rest", kind="words", required=False, help="a source name"),
    ),
    options=(
        Option("force", help="sync: parse every file, even unchanged ones"),
        Option("page", kind="int", default=1, minimum=1, help="status: page of problems"),
    ),
    examples=(f"/{NAME} sync", f"/{NAME} sync demo", f"/{NAME} status", f"/{NAME} status demo"),
    admin=True,
    subcommands=tuple(_line(s) for s in SUBCOMMANDS.values()),
    children=tuple(SUBCOMMANDS.values()),
)

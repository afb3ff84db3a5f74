"""/report: ownership gaps, docs to fix, catalog changes, or a digest; the catalog's or a team's.

The same reports the scheduler posts, on demand and in full (paged): ``/report digest
team-payments`` shows what the team's channel gets each morning.
"""

from __future__ import annotations

from bot import suggest
from bot.chat import Button, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import BadArguments
from bot.paging import page_reply
from bot.reports.render import REPORTS, SUMMARIES
from bot.reports.store import PLATFORM_SCOPE

PAGE_SIZE = 25

# Words people type for a report, besides its own name.
ALIASES = {
    "gaps": "ownership-gaps",
    "ownership": "ownership-gaps",
    "owners": "ownership-gaps",
    "docs": "stale-docs",
    "stale": "stale-docs",
    "change": "changes",
    "summary": "digest",
}


def report_name(text: str) -> str:
    """The report ``text`` names; ``BadArguments`` with the closest names when none."""
    word = text.strip().lower().lstrip("/")
    if word in REPORTS:
        return word
    if word in ALIASES:
        return ALIASES[word]
    hint = suggest.hint(word, REPORTS)
    raise BadArguments(
        f"There is no “{text}” report.{hint} Reports: {', '.join(REPORTS)}. "
        "Usage: /report <report> [team]"
    )


def _overview() -> Reply:
    return Reply(
        title="Reports",
        text="Pick a report; add a team for its own (/report digest team-payments).",
        sections=(Section(items=tuple(f"{name} — {SUMMARIES[name]}" for name in REPORTS)),),
        buttons=tuple(Button(name, command=f"/report {name}") for name in REPORTS),
    )


async def report(ctx: Context, args: Args) -> Reply:
    """Build one report, for the whole catalog or for one team, and page it."""
    name_text = args.text("report")
    if not name_text:
        return _overview()
    name = report_name(name_text)
    team = args.entities.get("team")
    scope = str(team.ref) if team is not None else PLATFORM_SCOPE
    result = await ctx.services.reports.build(name, scope, ctx.now)
    if result.posted:  # a scheduled run's: its lists are capped already, and posted whole
        return result.reply
    page = int(args.options["page"])
    more = f"/report {name}" + (f" {team.ref}" if team is not None else "")
    reply = page_reply(result.reply, page, PAGE_SIZE, more)
    if page > 1 and not any(s.items for s in reply.sections):
        raise BadArguments(f"{more} has no page {page}.")
    return reply


SPEC = CommandSpec(
    name="report",
    summary="Ownership gaps, docs to fix, catalog changes or a digest, for all or one team.",
    handler=report,
    args=(
        Arg("report", kind="text", required=False, help=" | ".join(REPORTS)),
        Arg("team", kinds=("group",), required=False, help="a team (Group); all when left out"),
    ),
    options=(Option("page", "int", "page of a long report", default=1, minimum=1),),
    aliases=("reports",),
    examples=(
        "/report ownership-gaps",
        "/report stale-docs team-payments",
        "/report changes",
        "/report digest team-payments",
    ),
    subcommands=tuple(f"{name} [team] — {SUMMARIES[name]}" for name in REPORTS),
)

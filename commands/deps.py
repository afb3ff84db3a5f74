"""/deps: what an entity depends on, what depends on it, and the APIs between them.

Both directions are trees to ``--depth`` levels (1 to 5). An API is folded into the service
behind it: a component consuming ``ledger-api`` depends on ``payments-ledger`` *via*
``ledger-api``, so "depended on by" answers "what breaks if this goes down". Cycles are shown
once and not followed (``fraud-scorer → risk-rules-engine → fraud-scorer``).
"""

from __future__ import annotations

from bot.catalog.graph import Dependencies, DependencyTree, Line
from bot.catalog.model import Entity
from bot.catalog.search import SearchIndex
from bot.chat import Button, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import BadArguments
from commands.common import command_line, ref_label, summary_line

MAX_DEPTH = 5
PAGE_SIZE = 40
LISTED_PER_API = 8  # consumers named per provided API; the rest are counted
INDENT = "\u2003"  # an em space: survives Slack's and Discord's whitespace trimming


async def deps(ctx: Context, args: Args) -> Reply:
    """Dependencies both ways to --depth levels, with the APIs provided and consumed."""
    entity = args.entity("entity")
    depth: int = args.options["depth"]
    page: int = args.options["page"]
    index = await ctx.search.search_index()
    ref = str(entity.ref)
    is_api = entity.ref.kind == "api"
    both = await ctx.graph.dependencies(ref, depth, apis=not is_api)
    down, up = both.down, both.up

    name = ref_label(ref)
    lead: list[str] = []
    rows: list[tuple[str, Row]] = []  # (section title, row), rendered only when on the page
    titles = ("Provided by", "Consumed by") if is_api else ("Depends on", "Depended on by")
    lines = {tree.direction: list(tree.lines()) for tree in (down, up)}
    for tree, title in ((down, titles[0]), (up, titles[1])):
        found = lines[tree.direction]
        if found:
            heading = f"{title} ({_within(tree)})"
            rows.extend((heading, (tree, line)) for line in found)
        else:
            lead.append(f"{title}: nothing in the catalog.")
    if not is_api:
        for section in _api_sections(both, index):
            rows.extend((section.title or "", item) for item in section.items)

    cycles = _cycles(lines["down"], lines["up"])
    text = _summary(entity, down, up, is_api)
    if cycles:
        text += " " + " ".join(
            "Dependency cycle: " + " → ".join(ref_label(r) for r in c) + "." for c in cycles
        )
    if lead:
        text += "\n" + "\n".join(lead)

    start = (page - 1) * PAGE_SIZE
    shown = _sections(rows[start : start + PAGE_SIZE], index)
    left = max(0, len(rows) - start - PAGE_SIZE)
    if page > 1 and not shown:
        raise BadArguments(f"There is no page {page} of /deps {name}.")
    options = {"depth": depth if depth != 1 else None}
    more = command_line("deps", ref, page=page + 1, **options) if left else None
    buttons = [Button("Card", command=command_line("describe", ref))]
    deeper = any(line.beyond for found in lines.values() for line in found)
    if deeper and depth < MAX_DEPTH:
        buttons.append(Button("Deeper", command=command_line("deps", ref, depth=depth + 1)))
    return Reply(
        title=f"Dependencies of {entity.display_name}"
        + (f" (depth {depth})" if depth > 1 else "")
        + (f" (page {page})" if page > 1 else ""),
        text=text if page == 1 else None,
        sections=tuple(shown),
        notes=(f"{left} more lines not shown",) if left else (),
        more=more,
        buttons=tuple(buttons),
    )


Row = tuple[DependencyTree, Line] | str


def _sections(rows: list[tuple[str, Row]], index: SearchIndex) -> list[Section]:
    """Render one page of rows into sections (a section's title repeats on the next page)."""
    out: list[Section] = []
    for title, row in rows:
        item = row if isinstance(row, str) else _tree_item(row[0], row[1], index)
        if out and out[-1].title == title:
            out[-1] = Section(title=title, items=(*out[-1].items, item))
        else:
            out.append(Section(title=title, items=(item,)))
    return out


def _within(tree: DependencyTree) -> str:
    n = len(tree.reached)
    levels = f"within {tree.depth} levels" if tree.depth > 1 else "direct"
    return f"{n} {levels}"


def _summary(entity: Entity, down: DependencyTree, up: DependencyTree, is_api: bool) -> str:
    name = entity.display_name
    depth = down.depth
    scope = "directly" if depth == 1 else f"within {depth} levels"
    if is_api:
        return (
            f"{name} is provided by {_count(down)} and used by {_count(up)} {scope} "
            "(APIs count as the services behind them)."
        )
    ups = len(up.reached)
    verb = "depends" if ups <= 1 else "depend"
    return (
        f"{name} depends on {_count(down)} and {_count(up)} {verb} on it {scope} "
        "(through APIs too)."
    )


def _count(tree: DependencyTree) -> str:
    n = len(tree.reached)
    return "nothing" if n == 0 else f"{n} {'entity' if n == 1 else 'entities'}"


def _label(ref: str, index: SearchIndex) -> str:
    doc = index.doc(ref)
    if doc is None:
        return f"{ref_label(ref)} (not in the catalog)"
    return summary_line(doc)


def _tree_item(tree: DependencyTree, line: Line, index: SearchIndex) -> str:
    """One tree row, indented by depth, with via-APIs, repeats and cycles marked."""
    indent = INDENT * (line.depth - 1) + ("↳ " if line.depth > 1 else "")
    return indent + _line_text(line, tree, index)


def _line_text(line: Line, tree: DependencyTree, index: SearchIndex) -> str:
    target = line.edge.target
    if line.mark == "cycle":
        loop = line.cycle if tree.direction == "down" else tuple(reversed(line.cycle))
        return f"↻ {ref_label(target)}: a cycle ({' → '.join(ref_label(r) for r in loop)})"
    text = _label(target, index)
    if line.edge.via:
        text += " — via " + ", ".join(_api_name(v) for v in line.edge.via)
    if line.mark == "seen":
        text += " (listed elsewhere here)"
    elif line.beyond:
        text += f" (+{line.beyond} beyond depth {tree.depth})"
    return text


def _api_name(ref: str) -> str:
    """``API ledger-api`` for an API in the default namespace, else its short ref."""
    label = ref_label(ref)
    return f"API {label[4:]}" if label.startswith("api:") and "/" not in label else label


def _cycles(down: list[Line], up: list[Line]) -> list[tuple[str, ...]]:
    """Distinct loops of both trees, as "depends on" chains (an up-tree loop runs backwards)."""
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for lines, backwards in ((down, False), (up, True)):
        for line in lines:
            if line.mark == "cycle":
                loop = tuple(reversed(line.cycle)) if backwards else line.cycle
                found.setdefault(frozenset(loop), loop)
    return list(found.values())


def _api_sections(found: Dependencies, index: SearchIndex) -> tuple[Section, Section]:
    """APIs the entity provides (and who consumes them), and those it consumes (and who
    provides them)."""
    provided, consumed = found.provided, found.consumed
    consumers, providers = found.consumers, found.providers
    provided_items = []
    for api in provided:
        users = [t for _, t in consumers.get(api, ())]
        head = _label(api, index)
        if not users:
            provided_items.append(f"{head} — no consumers in the catalog")
            continue
        names = ", ".join(ref_label(u) for u in users[:LISTED_PER_API])
        rest = len(users) - LISTED_PER_API
        tail = f" and {rest} more ({command_line('deps', api)})" if rest > 0 else ""
        provided_items.append(f"{head} — consumed by {names}{tail}")
    consumed_items = []
    for api in consumed:
        owners = [t for _, t in providers.get(api, ())]
        head = _label(api, index)
        if owners:
            consumed_items.append(
                f"{head} — provided by {', '.join(_provider(o, index) for o in owners)}"
            )
        else:
            consumed_items.append(f"{head} — no provider in the catalog")
    return (
        Section(title=f"Provides APIs ({len(provided)})", items=tuple(provided_items)),
        Section(title=f"Consumes APIs ({len(consumed)})", items=tuple(consumed_items)),
    )


def _provider(ref: str, index: SearchIndex) -> str:
    doc = index.doc(ref)
    if doc is None or not doc.owner:
        return ref_label(ref)
    return f"{ref_label(ref)} ({ref_label(doc.owner)})"


SPEC = CommandSpec(
    name="deps",
    summary="What an entity depends on and what depends on it, with APIs; --depth up to 5.",
    handler=deps,
    args=(Arg("entity", help="a name, title or ref (component:payments-api)"),),
    options=(
        Option("depth", "int", "levels to follow, 1 to 5", default=1, minimum=1, maximum=MAX_DEPTH),
        Option("page", "int", "page of a long answer", default=1, minimum=1),
    ),
    examples=("/deps payments-api", "/deps payments-api --depth 2", "/deps api:ledger-api"),
)

"""/docs: search the TechDocs of every entity, or show one entity's docs and how fresh they are.

    /docs <words>            the best section of each matching page, across all docs
    /docs <entity>           the entity's docs home, table of contents and freshness
    /docs <entity> <words>   search within one entity's docs
    /docs --problems         every docs problem the index found, by entity

Words all have to match (``refunds`` finds ``refund``); ``"quoted words"`` match as a phrase;
``word*`` matches by prefix. An entity is recognised only by an exact ref, name or title (the
longest run of leading words that is one), so ordinary words are never mistaken for names.
Matched words in snippets sit between ⟦ and ⟧ (``bot.chat.MARK_OPEN``/``MARK_CLOSE``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from bot.annotations import TECHDOCS_ENTITY
from bot.catalog.model import Entity, EntityRef
from bot.catalog.read import KIND_PRIORITY, NameIndex
from bot.chat import Button, Field, Link, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.docs.model import DocPage, DocsFreshness, DocSite
from bot.docs.search import MAX_RANKED, SearchHit
from bot.docs.service import DocsResults, DocsService
from bot.errors import BadArguments, CatalogError

RESULTS_PER_PAGE = 5
MAX_TOC_PAGES = 40
_OPTIONS = re.compile(r"(?:^|\s)(?:--page(?:=|\s+)\S+|--problems)(?=\s|$)")
PROBLEMS_PER_PAGE = 25
MAX_WORDS = 32  # words in one docs query: bounded work per request


async def docs(ctx: Context, args: Args) -> Reply:
    """Search docs, or show one entity's docs."""
    # Every read (the docs index, the catalog, the name index) is awaited: it runs in the
    # stores' worker threads, never on the event loop.
    service = ctx.services.docs
    text = _OPTIONS.sub(" ", args.raw).strip()
    page = int(args.options["page"])
    if args.options["problems"]:
        if text:
            raise BadArguments("/docs --problems takes no words. Usage: /docs --problems")
        return await _problems(service, page)
    if not text:
        return await _overview(ctx, service)
    if len(text.split()) > MAX_WORDS:
        raise BadArguments(
            f"/docs takes at most {MAX_WORDS} words ({len(text.split())} given): "
            "a few distinctive words find more."
        )
    entity, words = await _leading_entity(ctx, text)
    if entity is None:
        return await _search(ctx, service, text, None, page)
    if not words:
        return await _entity_docs(ctx, service, entity)
    return await _search(ctx, service, words, entity, page)


async def _leading_entity(ctx: Context, text: str) -> tuple[Entity | None, str]:
    """The entity named exactly by the leading words, and the words after it.

    No name or title in the catalog has more than ``index.max_words`` words, so only that many
    leading runs are tried: the work grows with the text, never with its square.
    """
    words = text.split()
    service = ctx.services.docs
    index = await ctx.catalog.names()
    for count in range(min(len(words), index.max_words), 0, -1):
        refs = _exact_refs(index, " ".join(words[:count]).strip('"'))
        if not refs:
            continue
        sites = await service.sites_by_ref(refs)
        with_docs = [r for r in refs if r in sites]
        rest = " ".join(words[count:])
        if rest and not with_docs:
            return None, text  # "kafka retention": kafka has no docs, so search the words
        entity = await ctx.catalog.get((with_docs or refs)[0])
        if entity is not None:
            return entity, rest
    return None, text


def _exact_refs(index: NameIndex, text: str) -> list[str]:
    """Refs whose full ref, name or title is exactly ``text`` (never a fuzzy guess)."""
    if not text:
        return []
    if ":" in text and " " not in text:
        try:
            ref = str(EntityRef.parse(text))
        except CatalogError:
            ref = ""
        if ref in index:
            return [ref]
    dashed = re.sub(r"[\s_]+", "-", text.strip().lower())
    hits = [
        *index.named(text.lower()),
        *index.titled(dashed),
        *index.named(dashed),
    ]
    rank = {kind: i for i, kind in enumerate(KIND_PRIORITY)}
    ordered = sorted(dict.fromkeys(hits), key=lambda e: rank.get(e.kind, 99))
    return [e.ref for e in ordered]


async def _has_docs(ctx: Context, entity: Entity) -> bool:
    return await ctx.services.docs.site(str(entity.ref)) is not None


def _when(value: dt.datetime | None, now: dt.datetime, source: str | None = None) -> str:
    if value is None:
        return "unknown"
    days = (now - value).days
    ago = "today" if days <= 0 else ("1 day ago" if days == 1 else f"{days} days ago")
    how = {
        "file": " (file time, not in git)",
        "shallow": " (from a shallow clone: set depth: 0 on the git source for real dates)",
    }.get(source or "", "")
    return f"{value.date().isoformat()}, {ago}{how}"


async def _overview(ctx: Context, service: DocsService) -> Reply:
    sites = await service.sites()
    if not sites:
        return Reply(
            title="Docs",
            text="No entity has TechDocs (a backstage.io/techdocs-ref annotation) yet.",
        )
    found = await ctx.catalog.get_many(s.entity_ref for s in sites)
    items = []
    problems = 0
    for site in sites:
        fresh = site.freshness
        entity = found.get(site.entity_ref)
        name = entity.name if entity else site.entity_ref
        if fresh.folder_missing:
            items.append(f"{name}: no docs folder")
        else:
            stale = fresh.stale_reasons(ctx.now, service.settings)
            line = f"{name}: {fresh.pages} pages, updated {_when(fresh.docs_updated, ctx.now)}"
            items.append(line + (f" — stale: {'; '.join(stale)}" if stale else ""))
        problems += len(fresh.problems)
    text = (
        f"{len(sites)} entities have TechDocs. Try /docs <words> to search them all, "
        "/docs <entity> for one entity's docs."
    )
    notes = (f"{problems} docs problems: /docs --problems",) if problems else ()
    return Reply(title="Docs", text=text, sections=(Section(items=tuple(items)),), notes=notes)


async def _problems(service: DocsService, page: int) -> Reply:
    """Every docs problem, by entity: what the docs index found wrong, where."""
    problems = await service.problems()
    lines = [(p.entity or "", str(p)) for p in problems]
    if not lines:
        return Reply(title="Docs problems", text="The docs index found no problems.")
    start = (page - 1) * PROBLEMS_PER_PAGE
    shown = lines[start : start + PROBLEMS_PER_PAGE]
    if not shown:
        return Reply(text=f"There is no page {page}: {len(lines)} docs problems.", error=True)
    sections: list[Section] = []
    for entity, line in shown:
        if sections and sections[-1].title == entity:
            sections[-1] = Section(title=entity, items=(*sections[-1].items, line))
        else:
            sections.append(Section(title=entity, items=(line,)))
    more = start + PROBLEMS_PER_PAGE < len(lines)
    errors = sum(1 for p in problems if p.level == "error")
    return Reply(
        title="Docs problems" + (f" (page {page})" if page > 1 else ""),
        text=f"{_count(errors, 'error')} and {_count(len(lines) - errors, 'warning')}, "
        "found by the last docs index.",
        sections=tuple(sections),
        more=f"/docs --problems --page {page + 1}" if more else None,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def _entity_docs(ctx: Context, service: DocsService, entity: Entity) -> Reply:
    ref = str(entity.ref)
    site = await service.site(ref)
    if site is None:
        return await _no_site(ctx, service, entity)
    fresh = site.freshness
    sections = [Section(fields=tuple(_freshness_fields(ctx, service, ref, fresh)))]
    links: list[Link] = []
    if fresh.folder_missing:
        text = (
            f"{entity.ref} has backstage.io/techdocs-ref: {site.techdocs_ref}, but its docs "
            "folder is missing."
        )
    else:
        text = site.site_description or entity.description or ""
        pages = await service.pages(ref)
        home = service.link(entity, site, pages[0].path) if pages else None
        if home:
            links.append(Link("Docs home", home))
        sections.append(_contents(service, entity, site, pages))
    problems = tuple(p.message + (f" ({p.file})" if p.file else "") for p in fresh.problems)
    if problems:
        sections.append(Section(title="Problems", items=problems))
    return Reply(
        title=f"{site.site_name or entity.display_name} docs",
        text=text or None,
        sections=tuple(sections),
        links=tuple(links),
        buttons=(
            Button("Search these docs", command=f"/docs {entity.name} <words>"),
            Button("Who owns it", command=f"/whoowns {entity.ref}"),
        ),
    )


async def _no_site(ctx: Context, service: DocsService, entity: Entity) -> Reply:
    """No docs site: the docs of the entity its techdocs-entity annotation names, else where
    its name is mentioned."""
    other = entity.annotations.get(TECHDOCS_ENTITY)
    if other:
        target = await ctx.catalog.get(other) if ":" in other else None
        if target is not None and await service.site(str(target.ref)) is not None:
            shown = await _entity_docs(ctx, service, target)
            return shown.with_notes(
                f"{entity.name} shows the docs of {target.ref} ({TECHDOCS_ENTITY})"
            )
    mentions = await service.search(f'"{entity.name}"', limit=3)
    sections = []
    if mentions.hits:
        sections.append(Section(title="Mentioned in", items=await _hit_lines(ctx, mentions)))
    return Reply(
        title=f"{entity.display_name}: no docs",
        text=f"{entity.ref} has no TechDocs: it has no backstage.io/techdocs-ref annotation.",
        sections=tuple(sections),
        buttons=(Button("Who owns it", command=f"/whoowns {entity.ref}"),),
    )


def _freshness_fields(
    ctx: Context, service: DocsService, ref: str, fresh: DocsFreshness
) -> list[Field]:
    fields = [
        Field("Entity", ref),
        Field("Pages", f"{fresh.pages} ({fresh.words:,} words)"),
        Field("Docs updated", _when(fresh.docs_updated, ctx.now, fresh.dates_from)),
    ]
    if fresh.code_updated is not None:
        fields.append(Field("Code updated", _when(fresh.code_updated, ctx.now)))
    stale = fresh.stale_reasons(ctx.now, service.settings)
    if stale:
        fields.append(Field("Stale", "; ".join(stale), inline=False))
    return fields


def _contents(
    service: DocsService, entity: Entity, site: DocSite, pages: Sequence[DocPage]
) -> Section:
    """The table of contents: each page with its second-level headings and link."""
    items = []
    for page in pages[:MAX_TOC_PAGES]:
        heads = [s.title for s in page.sections if s.level == 2]
        line = page.title + ("" if page.in_nav else " (not in nav)")
        if heads:
            line += ": " + ", ".join(heads)
        url = service.link(entity, site, page.path)
        items.append(line + (f" — {url}" if url else ""))
    if len(pages) > MAX_TOC_PAGES:
        items.append(f"… and {len(pages) - MAX_TOC_PAGES} more pages")
    return Section(title="Contents", items=tuple(items))


async def _search(
    ctx: Context, service: DocsService, words: str, entity: Entity | None, page: int
) -> Reply:
    ref = str(entity.ref) if entity else None
    results = await service.search(
        words, ref, limit=RESULTS_PER_PAGE, offset=(page - 1) * RESULTS_PER_PAGE
    )
    where = f" in {entity.name} docs" if entity else " in the docs"
    notes: list[str] = []
    if results.query.dropped:
        notes.append(f"common words left out: {', '.join(results.query.dropped)}")
    if results.by_prefix:
        notes.append(f"no whole-word matches for “{words}”; showing words that start with them")
    if results.broad:
        notes.append(
            f"more than {MAX_RANKED:,} sections match; these are the best of the first "
            f"{MAX_RANKED:,}: add words to narrow the search"
        )
    if results.query.empty:
        return Reply(
            text=f"“{words}” has nothing to search for{where}: add a more specific word.",
            error=True,
        )
    if not results.hits:
        buttons = (Button(f"{entity.name} docs", command=f"/docs {entity.ref}"),) if entity else ()
        text = f"Nothing{where} matches “{words}”."
        if page > 1:
            text = f"There is no page {page} of results for “{words}”{where}."
        return await ctx.found_nothing_async(Reply(text=text, buttons=buttons, notes=tuple(notes)))
    sections = []
    start = (page - 1) * RESULTS_PER_PAGE
    lines = await _hit_lines(ctx, results, with_snippets=True)
    for i, line in enumerate(lines, start=start + 1):
        head, _, rest = line.partition("\n")
        sections.append(Section(title=f"{i}. {head}", text=rest or None))
    query_text = f"{entity.name} {words}" if entity else words
    return Reply(
        title=f"Docs matching “{words}”" + (f" ({entity.name})" if entity else ""),
        sections=tuple(sections),
        notes=tuple(notes),
        more=f"/docs {query_text} --page {page + 1}" if results.more else None,
    )


async def _hit_lines(
    ctx: Context, results: DocsResults, with_snippets: bool = False
) -> tuple[str, ...]:
    """One entry per hit: ``entity › page › section`` (+ snippet and link on later lines)."""
    service = ctx.services.docs
    refs = {h.entity_ref for h in results.hits}
    entities = await ctx.catalog.get_many(refs)
    sites = await service.sites_by_ref(refs)
    out = []
    for hit in results.hits:
        entity = entities.get(hit.entity_ref)
        site = sites.get(hit.entity_ref)
        name = entity.name if entity else hit.entity_ref
        head = f"{name} › {_where(hit)}"
        url = None
        if entity is not None and site is not None:
            url = service.link(entity, site, hit.page_path, hit.anchor, hit.section_title)
        if not with_snippets:
            out.append(head + (f" — {url}" if url else ""))
            continue
        body = [hit.snippet] if hit.snippet else []
        if url:
            body.append(url)
        out.append("\n".join([head, *body]))
    return tuple(out)


def _where(hit: SearchHit) -> str:
    if hit.level <= 1 and hit.section_title.strip().lower() == hit.page_title.strip().lower():
        return hit.page_title
    if hit.level == 0:
        return hit.page_title
    return f"{hit.page_title} › {hit.section_title}"


SPEC = CommandSpec(
    name="docs",
    summary="Search TechDocs, or show an entity's docs, contents and freshness.",
    handler=docs,
    args=(
        Arg(
            "query",
            kind="words",
            required=False,
            help='<words>, <entity>, or <entity> <words>; "quoted phrase", prefix*',
        ),
    ),
    options=(
        Option("page", "int", "page of results", default=1, minimum=1),
        Option("problems", "flag", "every docs problem the index found, by entity"),
    ),
    examples=(
        "/docs idempotency key",
        "/docs payments-api",
        "/docs payments-api refund",
        '/docs "roll back"',
        "/docs --problems",
    ),
)

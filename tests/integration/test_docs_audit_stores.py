"""One contract, three stores: the docs index and the audit log in SQLite, PostgreSQL (when
reachable) and memory answer the same questions the same way.

The memory stores are what the fast test tier builds on; these assertions are what makes them
stand-ins for the database rather than guesses about it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.audit import CLAIM_TTL, Requester
from bot.catalog.model import EntityRef
from bot.catalog.problems import Problem
from bot.chat import MARK_OPEN
from bot.docs.model import DocsWrites
from bot.docs.search import parse_query
from bot.ports import AuditLog, DocsIndexStore, DocsQueries, NameClaims
from bot.store.db import Database
from bot.store.memory.audit import MemoryAuditLog, MemoryNameClaims
from bot.store.memory.docs import MemoryDocs
from bot.store.sql.audit import SqlAuditLog, SqlNameClaims
from bot.store.sql.docs import SqlDocs, SqlDocsIndex

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ANA = Requester("slack", "U1", "Ana Silva", EntityRef.parse("user:default/ana.silva"))
BOB = Requester("discord", "42", "bob", None, (), "no catalog user")


@dataclasses.dataclass
class Stores:
    audit: AuditLog
    claims: NameClaims
    docs: DocsQueries
    index: DocsIndexStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        docs = MemoryDocs()
        yield Stores(MemoryAuditLog(), MemoryNameClaims(), docs, docs)
        return
    url = (
        f"sqlite:///{tmp_path / 'callboard.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    db = Database(url)
    db.migrate()
    pool = ThreadPoolExecutor(2)
    try:
        yield Stores(
            SqlAuditLog(db, pool), SqlNameClaims(db, pool), SqlDocs(db, pool), SqlDocsIndex(db)
        )
    finally:
        pool.shutdown()
        db.engine.dispose()


# --- the audit log ------------------------------------------------------------------------------


async def test_entries_are_newest_first_and_finish_merges_details(stores: Stores) -> None:
    audit = stores.audit
    first = await audit.start(T0, "scaffold", ANA, "checkout-api", {"template": "py", "n": 1})
    refused = await audit.start(
        T0 + dt.timedelta(minutes=1), "callboard sync", BOB, "catalog", {}, "refused", "not admin"
    )
    await audit.finish(first, T0 + dt.timedelta(minutes=2), "succeeded", "done", {"n": 2, "x": T0})
    newest, oldest = await audit.entries()
    assert (newest.id, oldest.id) == (refused, first)
    assert newest.result == "refused" and newest.finished_at == newest.at
    assert newest.actor == "discord user bob" and newest.message == "not admin"
    assert oldest.actor == "user:default/ana.silva" and oldest.platform == "slack"
    assert oldest.result == "succeeded" and oldest.message == "done"
    assert oldest.finished_at == T0 + dt.timedelta(minutes=2)
    assert dict(oldest.details) == {"template": "py", "n": 2, "x": str(T0)}
    assert oldest.to_dict()["at"] == T0.isoformat()


async def test_entries_filter_by_action_actor_target_and_time(stores: Stores) -> None:
    audit = stores.audit
    for minute, (who, action, target) in enumerate(
        [
            (ANA, "scaffold", "Checkout-API"),
            (BOB, "scaffold", "fares"),
            (ANA, "callboard sync", "all sources"),
        ]
    ):
        await audit.start(T0 + dt.timedelta(minutes=minute), action, who, target, {})

    async def targets(**filters: Any) -> list[str]:
        return [e.target for e in await audit.entries(**filters)]

    assert await targets(action="scaffold") == ["fares", "Checkout-API"]
    assert await targets(actor="ANA.SILVA") == ["all sources", "Checkout-API"]
    assert await targets(actor="bo") == ["fares"]  # the chat name, for an unknown user
    assert await targets(actor="42") == ["fares"]  # or the chat id
    assert await targets(target="checkout") == ["Checkout-API"]
    assert await targets(since=T0 + dt.timedelta(minutes=1)) == ["all sources", "fares"]
    assert await targets(limit=1) == ["all sources"]
    assert await targets(action="nothing") == []


async def test_a_name_is_held_by_one_run_until_released_or_stale(stores: Stores) -> None:
    claims = stores.claims
    assert await claims.claim("Checkout-API", 7, T0) is None
    assert await claims.claim("checkout-api", 8, T0) == 7  # names are claimed lower-cased
    await claims.release("checkout-api", 8)  # not the holder: nothing happens
    assert await claims.claim("checkout-api", 8, T0) == 7
    await claims.release("CHECKOUT-API", 7)
    assert await claims.claim("checkout-api", 8, T0) is None
    later = T0 + CLAIM_TTL + dt.timedelta(seconds=1)
    assert await claims.claim("checkout-api", 9, later) is None  # run 8 died: taken over
    assert await claims.claim("checkout-api", 10, later) == 9


# --- the docs index -----------------------------------------------------------------------------


def _site(ref: str, name: str, pages: int, sections: int, **extra: Any) -> dict[str, Any]:
    return {
        "entity_ref": ref,
        "indexed_at": T0,
        "source": "test",
        "techdocs_ref": "dir:.",
        "site_dir": name,
        "repo_path": name,
        "docs_dir": "docs",
        "site_name": f"{name} docs",
        "site_description": f"How {name} works",
        "nav": "[]",
        "input_hash": f"hash-{name}",
        "git_head": None,
        "pages": pages,
        "sections": sections,
        "words": 40,
        "nav_missing": json.dumps(["gone.md"]),
        "folder_missing": 0,
        "docs_updated": T0 - dt.timedelta(days=3),
        "code_updated": None,
        "dates_from": "git",
        "problems": json.dumps([Problem("warning", "odd", "x/mkdocs.yml", None, ref).to_dict()]),
        **extra,
    }


def _page(ref: str, path: str, title: str, position: int) -> dict[str, Any]:
    return {
        "entity_ref": ref,
        "path": path,
        "title": title,
        "position": position,
        "in_nav": 1,
        "sha256": f"sha-{path}",
        "size": 100,
        "word_count": 20,
        "last_updated": T0 - dt.timedelta(days=3),
        "updated_from": "git",
    }


def _section(
    ref: str, position: int, level: int, title: str, page_title: str, site: str, body: str
) -> dict[str, Any]:
    anchor = title.lower().replace(" ", "-")
    return {
        "entity_ref": ref,
        "position": position,
        "level": level,
        "anchor": anchor,
        "title": title,
        "page_title": page_title,
        "site": site,
        "body": body,
    }


BILLING = "component:default/billing"
ORDERS = "component:default/orders"


def _fill(index: DocsIndexStore) -> None:
    writes = DocsWrites()
    writes.site_inserts += [_site(BILLING, "billing", 2, 3), _site(ORDERS, "orders", 1, 2)]
    b = "billing Billing service billing docs"
    o = "orders Orders service orders docs"
    writes.new_pages += [
        (
            _page(BILLING, "index.md", "Billing", 0),
            [
                _section(BILLING, 0, 1, "Billing", "Billing", b, "Charges cards every night."),
                _section(BILLING, 1, 2, "Ledger", "Billing", b, "The ledger keeps each charge."),
            ],
        ),
        (
            _page(BILLING, "deep/notes.md", "Notes", 1),
            [_section(BILLING, 0, 3, "Deep", "Notes", b, "A refund is a negative charge.")],
        ),
        (
            _page(ORDERS, "index.md", "Refund policy", 0),
            [
                _section(ORDERS, 0, 1, "Refund policy", "Refund policy", o, "Orders roll back."),
                _section(ORDERS, 1, 2, "Idempotency", "Refund policy", o, "Keys stop twins."),
            ],
        ),
    ]
    index.write(writes)


async def test_sites_pages_and_freshness_read_back_as_written(stores: Stores) -> None:
    _fill(stores.index)
    docs = stores.docs
    site = await docs.site("Component:default/Billing")
    assert site is not None and site.site_name == "billing docs"
    assert (site.repo_path, site.docs_dir, site.site_description) == (
        "billing",
        "docs",
        "How billing works",
    )
    fresh = site.freshness
    assert (fresh.pages, fresh.sections, fresh.words, fresh.dates_from) == (2, 3, 40, "git")
    assert fresh.docs_updated == T0 - dt.timedelta(days=3) and fresh.code_updated is None
    assert fresh.nav_missing == ("gone.md",) and not fresh.folder_missing
    assert [p.message for p in fresh.problems] == ["odd"]
    assert await docs.site("component:default/nothing") is None
    assert list(await docs.sites()) == [BILLING, ORDERS]
    assert list(await docs.sites([ORDERS.upper(), "component:default/nothing"])) == [ORDERS]
    assert list(await docs.freshness([BILLING])) == [BILLING]
    pages = await docs.pages(BILLING)
    assert [(p.path, p.title, p.in_nav) for p in pages] == [
        ("index.md", "Billing", True),
        ("deep/notes.md", "Notes", True),
    ]
    assert [s.title for s in pages[0].sections] == ["Billing", "Ledger"]
    assert pages[1].sections == ()  # level 3 is past the default max_level
    deep = await docs.pages(BILLING, max_level=3)
    assert [(s.title, s.anchor, s.level) for s in deep[1].sections] == [("Deep", "deep", 3)]
    assert pages[0].last_updated == T0 - dt.timedelta(days=3)


async def test_search_matches_words_phrases_and_prefixes_title_pages_first(
    stores: Stores,
) -> None:
    _fill(stores.index)
    docs = stores.docs
    assert docs.searchable

    async def found(text: str, ref: str | None = None, **kw: Any) -> list[tuple[str, str]]:
        page = await docs.search(parse_query(text), ref, **kw)
        return [(h.entity_ref.split("/")[1], h.page_path) for h in page.hits]

    # The page whose title holds the word first, then the one with it in the body.
    assert await found("refund") == [("orders", "index.md"), ("billing", "deep/notes.md")]
    assert await found("refund", BILLING) == [("billing", "deep/notes.md")]
    assert await found('"roll back"') == [("orders", "index.md")]
    assert await found('"back roll"') == []
    assert await found("ledg*") == [("billing", "index.md")]
    assert await found("ledger charge") == [("billing", "index.md")]  # every word must match
    assert await found("ledger refund") == []
    # Each page once, with its best section; paging with one more to tell whether more follow.
    everything = await found("docs", limit=10)
    assert sorted(everything) == [
        ("billing", "deep/notes.md"),
        ("billing", "index.md"),
        ("orders", "index.md"),
    ]
    first = await docs.search(parse_query("docs"), limit=2)
    second = await docs.search(parse_query("docs"), limit=2, offset=2)
    assert first.more and not second.more
    shown = [(h.entity_ref.split("/")[1], h.page_path) for h in (*first.hits, *second.hits)]
    assert sorted(shown) == sorted(everything)
    [hit] = (await docs.search(parse_query("ledger"))).hits
    assert (hit.section_title, hit.anchor, hit.level, hit.page_title) == (
        "Ledger",
        "ledger",
        2,
        "Billing",
    )
    assert MARK_OPEN in hit.snippet and "ledger" in hit.snippet.lower()


async def test_the_indexer_store_replaces_pages_and_removes_sites(stores: Stores) -> None:
    index = stores.index
    _fill(index)
    assert index.unsupported() is None
    assert index.section_total() == 5
    sites, pages = index.stored()
    assert sorted(sites) == [BILLING, ORDERS] and sites[BILLING].input_hash == "hash-billing"
    assert sorted(pages[BILLING]) == ["deep/notes.md", "index.md"]
    home = pages[BILLING]["index.md"]
    notes = pages[BILLING]["deep/notes.md"]
    assert index.section_counts([BILLING]) == {home.id: 2, notes.id: 1}
    assert index.site_text(ORDERS) == "orders Orders service orders docs"
    assert index.site_text("component:default/nothing") is None
    # Split one page again, move another, update the site's counts.
    writes = DocsWrites()
    writes.page(
        home.id,
        _page(BILLING, "index.md", "Billing home", 0),
        [_section(BILLING, 0, 1, "Payouts", "Billing home", "billing", "Payouts go weekly.")],
    )
    writes.light(notes, 5, False, T0, "file")
    writes.site_updates.append({"_ref": BILLING, **_site(BILLING, "billing", 2, 2)})
    del writes.site_updates[0]["entity_ref"]
    index.write(writes)
    assert index.section_total() == 4
    docs = stores.docs
    assert [(p.title, p.in_nav, p.updated_from) for p in await docs.pages(BILLING)] == [
        ("Billing home", True, "git"),
        ("Notes", False, "file"),
    ]
    assert not (await docs.search(parse_query("ledger"))).hits
    assert (await docs.search(parse_query("payouts"))).hits
    site = await docs.site(BILLING)
    assert site is not None and site.freshness.sections == 2
    removal = DocsWrites(removed_pages=[notes.id])
    index.write(removal)
    assert [p.path for p in await docs.pages(BILLING)] == ["index.md"]
    index.remove_sites([BILLING])
    assert list(await docs.sites()) == [ORDERS]
    assert await docs.pages(BILLING) == []
    assert not (await docs.search(parse_query("payouts"))).hits
    assert index.section_total() == 2

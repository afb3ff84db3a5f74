"""Issue 7's targets: docs indexing time and search latency over ~100,000 sections.

The generated catalog (``generate_catalog(..., docs=True)``) gives about a quarter of the
Components a TechDocs site: about 100,000 Markdown sections at 20,000 repositories. The catalog
is synced first with docs off; then the docs indexer runs cold (empty index), again with
nothing changed, and again after one page changed. Queries go through ``DocsService.search``
exactly as ``/docs`` calls it (ranking, per-page de-duplication, snippets), on SQLite FTS5 and
on PostgreSQL when reachable. Targets: indexing ≤ 60 s, query p99 ≤ 50 ms.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from bench.common import BenchContext, Result, latency_results, time_calls
from bench.generate import GeneratedCatalog

INDEX_TARGET_S = 60.0
QUERY_TARGET_MS = 50.0

# Words and phrases the generated docs use (bench/generate.py), as people would type them.
WORDS = (
    "rollback",
    "credentials",
    "migrations",
    "latency",
    "escalate",
    "secrets manager",
    "rotating credentials",
    "gateway authenticated",
    "forward-only",
    "percentile",
    "on-call engineer",
    "feature flags",
    "redeploy",
    "capacity planning",
)
PHRASES = ('"rolling back"', '"secrets manager"', '"database migrations"', '"error codes"')
PREFIXES = ("rota*", "migra*", "credent*", "escal*", "dashb*")


def _queries(cat: GeneratedCatalog, rng: random.Random) -> dict[str, list[str]]:
    names = list(cat.sample_names)
    return {
        "words": list(WORDS),
        "hyphenated name": [f"{n} runbook" for n in names],
        "phrase": list(PHRASES),
        "prefix": list(PREFIXES),
        "rare word": [f"{n} {rng.choice(WORDS).split()[0]}" for n in names],
    }


def _engine_results(
    label: str, cat: GeneratedCatalog, config: Path, sections_note: str
) -> list[Result]:
    from bot.bootstrap import build_app, load_settings
    from bot.docs.index import DocsIndexer
    from bot.docs.service import DocsService
    from bot.docs.settings import DocsSettings
    from bot.store.sql.docs import SqlDocs, SqlDocsIndex

    settings = load_settings(config)
    app = build_app(settings, [])
    results: list[Result] = []
    # One loop for every query: each search is the real hop to the store's threads.
    loop = asyncio.new_event_loop()
    try:
        app.services.sync.run()  # entities only: docs are off in this config
        indexer = DocsIndexer(SqlDocsIndex(app.db), DocsSettings(), app.services.sync.sources)
        started = time.perf_counter()
        cold = indexer.index()
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        again = indexer.index()
        again_s = time.perf_counter() - started
        page = next(iter(sorted((cat.root / "repos").glob("*/docs/index.md"))))
        page.write_text(page.read_text() + "\n## Benchmark edit\n\nOne more section.\n")
        started = time.perf_counter()
        edited = indexer.index()
        edited_s = time.perf_counter() - started
        note = (
            f"{cold.sites:,} sites, {cold.pages:,} pages, {cold.sections:,} sections"
            f" ({sections_note})"
        )
        results += [
            Result(
                "docs",
                f"cold index ({label})",
                cold_s,
                "s",
                f"≤ {INDEX_TARGET_S:g} s",
                cold_s <= INDEX_TARGET_S,
                note,
            ),
            Result(
                "docs",
                f"no-change re-index ({label})",
                again_s,
                "s",
                "",
                None,
                f"{again.pages_indexed} pages split again",
            ),
            Result(
                "docs",
                f"one page changed ({label})",
                edited_s,
                "s",
                "",
                None,
                f"{edited.pages_indexed} page split again",
            ),
        ]
        service = DocsService(SqlDocs(app.db, app.services.pool), DocsSettings(), None)
        rng = random.Random(11)
        all_samples: list[float] = []
        for kind, queries in _queries(cat, rng).items():
            cycle = iter(queries * 1000)

            def call(it: Any = cycle) -> None:
                loop.run_until_complete(service.search(next(it), limit=5))

            samples = time_calls(call, 200)
            all_samples += samples
            results += latency_results("docs", f"search {kind} ({label})", samples, None)
        scoped = iter([f"component:default/{n}" for n in cat.sample_names] * 1000)

        def within() -> None:
            loop.run_until_complete(service.search(rng.choice(WORDS), next(scoped), limit=5))

        samples = time_calls(within, 200)
        all_samples += samples
        results += latency_results("docs", f"search in one entity ({label})", samples, None)
        results += latency_results(
            "docs", f"search, all queries ({label})", all_samples, QUERY_TARGET_MS
        )
    finally:
        loop.close()
        app.close()
    return results


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog(docs=True)
    note = f"{cat.doc_sections:,} generated headings"
    results: list[Result] = []
    config = ctx.config("docs", cat.location_file, docs={"enabled": False})
    db = ctx.work / "docs.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    results += _engine_results("SQLite", cat, config, note)
    if ctx.pg_url:
        pg_config = ctx.config(
            "docs-pg", cat.location_file, db_url=ctx.pg_url, docs={"enabled": False}
        )
        results += _engine_results("PostgreSQL", cat, pg_config, note)
    return results

"""Issue 4's targets: p50/p99 of /describe, /owns, /deps and /search on the generated catalog
(and of /whoowns, exact and misspelt, the command most asked).

Every call goes through the dispatcher exactly as a chat message does (argument parsing, name
resolution, the handler, the reply), on a catalog of 20,000 generated repositories (about
43,000 entities) synced into SQLite, and into PostgreSQL when it is reachable. The search
index is built once per catalog generation, as in a running bot; its build time and size are
reported on their own rows. Targets: p99 ≤ 50 ms for ``/deps --depth 2`` and ``/search``.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import func, select

from bench.common import BenchContext, Result, latency_results, time_calls
from bot.app import App
from bot.bootstrap import build_app, load_settings
from bot.catalog.search import build_index
from bot.chat import ChatUser, Request
from bot.store.schema import relations
from commands import COMMANDS, INTERPRETERS

SAMPLES = 300
TARGET_MS = 50.0  # p99 for /deps --depth 2 and /search


def _search_queries(names: Sequence[str], groups: Sequence[str], rng: random.Random) -> list[str]:
    """What people type: a word, a name, a prefix, a typo, and filters with and without words."""
    queries: list[str] = []
    for name in names:
        words = name.split("-")
        queries.append(words[0])
        queries.append(" ".join(words))
        queries.append(words[0][:3])
        queries.append(_misspell(words[0], rng))
        queries.append(f"{words[-1]} kind:api")
        queries.append(f"{words[0]} lifecycle:production kind:component")
    for group in groups:
        queries.append(f"owner:{group} lifecycle:production")
        queries.append(f"owner:{group} {rng.choice(('service', 'api', 'db', 'web'))}")
    queries += ["tag:python kind:component", "service", "database kind:resource", "api"]
    return queries


def _misspell(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word + "x"
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1 :]


def _users(app: App, groups: Sequence[str]) -> list[str]:
    """A member of each sample team (for /owns <user>)."""
    found = []
    for group in groups:
        members = app.services.reader.related(f"group:default/{group}", "hasMember")
        if members:
            found.append(str(members[0]))
    return found


def _hubs(app: App, limit: int = 10) -> list[str]:
    """The entities most depended on (widest /deps answers): the worst case, not the typical."""
    count = func.count().label("n")
    stmt = (
        select(relations.c.source_ref, count)
        .where(relations.c.type == "dependencyOf")
        .group_by(relations.c.source_ref)
        .order_by(count.desc(), relations.c.source_ref)
        .limit(limit)
    )
    with app.db.engine.connect() as conn:
        return [row.source_ref for row in conn.execute(stmt)]


def _departments(app: App, groups: Sequence[str]) -> list[str]:
    found = []
    for group in groups:
        parents = app.services.reader.related(f"group:default/{group}", "childOf")
        if parents and str(parents[0]) not in found:
            found.append(str(parents[0]))
    return found


def _measure(
    app: App,
    bench: str,
    label: str,
    lines: Sequence[str],
    target: float | None,
    mention: bool = False,
) -> list[Result]:
    """p50/p99 of dispatching ``lines`` in turn; a reply that is an error fails the row.

    ``mention``: the lines are plain language said to the bot (the interpreter runs first).
    """
    loop = asyncio.new_event_loop()
    user = ChatUser("console", "bench")
    errors: list[str] = []
    it = iter(list(lines) * (SAMPLES + 10))

    def call() -> None:
        line = next(it)
        request = Request(line, user, mention=mention)
        reply = loop.run_until_complete(app.dispatcher.dispatch(request))
        if reply.error and len(errors) < 3:
            errors.append(f"{line}: {reply.text}")

    try:
        results = latency_results(bench, label, time_calls(call, SAMPLES), target)
    finally:
        loop.close()
    if errors:
        last = results[-1]
        note = f"error replies, e.g. {errors[0][:80]}"
        results[-1] = Result(
            last.bench, last.metric, last.value, last.unit, last.target, False, note
        )
    return results


def _index_rows(app: App) -> list[Result]:
    """Search index build time (as after a sync) and its size in memory."""
    started = time.perf_counter()
    build_index(app.services.reader.rows)
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    try:
        index = build_index(app.services.reader.rows)
        gc.collect()
        size_mb = tracemalloc.get_traced_memory()[0] / 1e6
    finally:
        tracemalloc.stop()
    note = f"{len(index):,} entities, {len(index.vocab):,} distinct words"
    return [
        Result("search", "index build (per catalog change)", seconds, "s", "", None, note),
        Result("search", "index size in memory", size_mb, "MB", "", None, "tracemalloc"),
    ]


def _command_rows(app: App, names: Sequence[str], groups: Sequence[str], db: str) -> list[Result]:
    rng = random.Random(4)
    users = _users(app, groups)
    departments = _departments(app, groups)
    hubs = _hubs(app)
    searches = [f"/search {q}" for q in _search_queries(names, groups, rng)]
    plan: list[tuple[str, str, list[str], float | None, bool]] = [
        ("whoowns", "exact name", [f"/whoowns {n}" for n in names], None, False),
        ("whoowns", "misspelt", [f"/whoowns {_misspell(n, rng)}" for n in names], None, False),
        ("describe", "component", [f"/describe {n}" for n in names], None, False),
        ("owns", "team", [f"/owns {g}" for g in groups], None, False),
        ("owns", "department --all", [f"/owns {d} --all" for d in departments], None, False),
        ("owns", "user", [f"/owns {u}" for u in users], None, False),
        ("deps", "--depth 1", [f"/deps {n}" for n in names], None, False),
        ("deps", "--depth 2", [f"/deps {n} --depth 2" for n in names], TARGET_MS, False),
        ("deps", "--depth 2, 10 widest", [f"/deps {h} --depth 2" for h in hubs], TARGET_MS, False),
        ("search", "mixed queries", searches, TARGET_MS, False),
        ("phrases", "“who owns X?”", [f"who owns {n}?" for n in names], None, True),
    ]
    results: list[Result] = []
    for bench, label, lines, target, mention in plan:
        if db != "SQLite" and bench in ("describe", "phrases", "whoowns"):
            continue  # the same code path as on SQLite: the database rows below say enough
        results += _measure(app, bench, f"{label} ({db})", lines, target, mention)
    return results


def _app(config: Path) -> App:
    return build_app(load_settings(config), COMMANDS, interpreters=INTERPRETERS)


def _run_on(
    config: Path,
    names: Sequence[str],
    groups: Sequence[str],
    db: str,
    extra: Callable[[App], list[Result]] | None = None,
) -> list[Result]:
    app = _app(config)
    try:
        if app.services.reader.count() == 0:
            app.services.sync.run()
        app.services.catalog.search_cache.current()  # once per generation, as in the bot
        app.services.reader.index()
        results = extra(app) if extra else []
        return results + _command_rows(app, names, groups, db)
    finally:
        app.close()


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    names = list(cat.sample_names)
    groups = list(cat.sample_groups)
    db = ctx.work / "commands.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    config = ctx.config("commands", cat.location_file)
    results = _run_on(config, names, groups, "SQLite", _index_rows)
    if ctx.pg_url:
        pg_config = ctx.config("commands-pg", cat.location_file, db_url=ctx.pg_url)
        results += _run_on(pg_config, names, groups, "PostgreSQL")
    return results

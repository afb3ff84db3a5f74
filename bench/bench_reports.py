"""Issue 9's target: build the digests of 1,000 teams on the 20,000-repository catalog in ≤ 10 s.

A scheduled digest run reads the catalog once (entities, memberships, docs freshness, changes
since each team's last digest) and then builds one ``Reply`` per team plus the platform digest;
this measures exactly that, after a cold sync, on SQLite (and PostgreSQL when reachable).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from bench.common import BenchContext, Result, percentiles

TARGET_S = 10.0


def _measure(config_path: object, label: str) -> list[Result]:
    from pathlib import Path

    from bot.bootstrap import build_app, load_settings
    from bot.reports.render import build_report
    from bot.reports.store import PLATFORM_SCOPE
    from commands import COMMANDS

    app = build_app(load_settings(Path(str(config_path))), COMMANDS)
    try:
        app.services.sync.run()
        reports = app.services.reports
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        analysis = asyncio.run(reports.analyse(now))
        analysed = time.perf_counter() - started
        teams = [g.ref for g in analysis.facts.groups() if not analysis.facts.children.get(g.ref)]
        per_team: list[float] = []
        posted = 0
        for ref in teams:
            one = time.perf_counter()
            result = build_report(analysis, "digest", ref, posted=True)
            per_team.append((time.perf_counter() - one) * 1000)
            posted += 0 if result.empty else 1
        platform = build_report(analysis, "digest", PLATFORM_SCOPE, posted=True)
        total = time.perf_counter() - started
        p50, p99 = percentiles(per_team)
        facts = analysis.facts
        note = (
            f"{len(teams):,} teams, {len(facts.items):,} entities, {len(analysis.gaps)} gaps, "
            f"{len(analysis.docs):,} docs problems"
        )
        assert platform.metrics is not None
        return [
            Result(
                "reports",
                f"digests for every team + platform ({label})",
                total,
                "s",
                f"≤ {TARGET_S:g} s for 1,000 teams",
                total <= TARGET_S if len(teams) >= 1000 else None,
                note,
            ),
            Result("reports", f"read + analyse the catalog ({label})", analysed, "s"),
            Result("reports", f"one team digest p50 ({label})", p50, "ms"),
            Result(
                "reports",
                f"one team digest p99 ({label})",
                p99,
                "ms",
                "",
                None,
                f"{posted:,} digests with something to say",
            ),
        ]
    finally:
        app.close()


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    sqlite_db = ctx.work / "reports.db"
    for suffix in ("", "-wal", "-shm"):
        sqlite_db.with_name(sqlite_db.name + suffix).unlink(missing_ok=True)
    results = _measure(ctx.config("reports", cat.location_file), "SQLite")
    if ctx.pg_url:
        config = ctx.config("reports-pg", cat.location_file, db_url=ctx.pg_url)
        results += _measure(config, "PostgreSQL")
    return results

"""Issue 19's ownership checks on the 20,000-repository catalog: start, answer, status, export.

``/attest start`` reads every entity in scope, stores the campaign and its items, and builds
each owning team's messages (handed to the posters, which pace them by each platform's rate
limits: the generated teams have no channel, so the building is timed on its own). Then one
team confirms all its entities, ``/attest status`` and the evidence export read it all back,
and a reminder pass reads every open campaign. SQLite, and PostgreSQL when reachable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from bench.common import BenchContext, Result

TARGET_S = 10.0
SCOPE = "kind:component,lifecycle:production"


def _measure(config_path: Path, label: str) -> list[Result]:
    from adapters.console import to_request
    from bot.attest.messages import team_messages
    from bot.attest.model import Item, parse_scope
    from bot.bootstrap import build_app, load_settings
    from commands import COMMANDS

    app = build_app(load_settings(config_path), COMMANDS)
    attest = app.services.attest
    assert attest is not None
    try:
        app.services.sync.run()
        started = time.perf_counter()
        done = asyncio.run(
            attest.start(parse_scope(SCOPE), dt.timedelta(days=14), dt.timedelta(days=3), "bench")
        )
        start_s = time.perf_counter() - started
        campaign, plan = done.campaign, done.plan
        by_team: dict[str, list[Item]] = {}
        for item in plan.items:
            by_team.setdefault(item.team_ref, []).append(item)
        built = time.perf_counter()
        messages = sum(
            len(team_messages(campaign, team, team, items)) for team, items in by_team.items()
        )
        build_s = time.perf_counter() - built
        biggest = max(by_team, key=lambda t: len(by_team[t]))
        answered = time.perf_counter()
        reply = asyncio.run(
            app.dispatcher.dispatch(
                to_request(app, f"/attest confirm --all {biggest} --campaign {campaign.id}")
            )
        )
        assert not reply.error, reply.to_text()
        answer_ms = (time.perf_counter() - answered) * 1000
        status = time.perf_counter()
        asyncio.run(app.dispatcher.dispatch(to_request(app, "/attest status")))
        status_ms = (time.perf_counter() - status) * 1000
        export = time.perf_counter()
        evidence = asyncio.run(attest.evidence(campaign))
        export_s = time.perf_counter() - export
        remind = time.perf_counter()
        asyncio.run(attest.remind_due())
        remind_ms = (time.perf_counter() - remind) * 1000
        total = start_s + build_s
        note = (
            f"{len(plan.items):,} entities of {len(by_team):,} teams, {messages:,} messages, "
            f"{len(plan.unowned)} not owned by a team"
        )
        return [
            Result(
                "attest",
                f"start: read, store, build every team's messages ({label})",
                total,
                "s",
                f"≤ {TARGET_S:g} s",
                total <= TARGET_S,
                note,
            ),
            Result("attest", f"start: read + store the campaign ({label})", start_s, "s"),
            Result("attest", f"build every team's messages ({label})", build_s, "s"),
            Result(
                "attest",
                f"confirm --all for the biggest team ({label})",
                answer_ms,
                "ms",
                "",
                None,
                f"{len(by_team[biggest])} entities",
            ),
            Result("attest", f"/attest status ({label})", status_ms, "ms"),
            Result(
                "attest",
                f"evidence export ({label})",
                export_s,
                "s",
                "",
                None,
                f"{len(evidence['items']):,} items",
            ),
            Result("attest", f"reminder pass, nothing due ({label})", remind_ms, "ms"),
        ]
    finally:
        app.close()


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    sqlite_db = ctx.work / "attest.db"
    for suffix in ("", "-wal", "-shm"):
        sqlite_db.with_name(sqlite_db.name + suffix).unlink(missing_ok=True)
    results = _measure(ctx.config("attest", cat.location_file), "SQLite")
    if ctx.pg_url:
        config = ctx.config("attest-pg", cat.location_file, db_url=ctx.pg_url)
        results += _measure(config, "PostgreSQL")
    return results

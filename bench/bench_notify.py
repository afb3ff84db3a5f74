"""Issue 19's target: notifications for a sync changing 5,000 owners across 1,000 teams, built
and handed to the poster in ≤ 10 s.

A catalog of 1,000 teams (each with a Slack channel) and 5,000 components is synced and the
notifier records its baseline; then every component moves to the next team and the catalog is
synced again. Measured: the notifier's pass after that sync (read the catalog and the 5,000
change rows, plan the lines and their channels, commit the batch, claim each channel's message
and hand it to the poster), on SQLite and on PostgreSQL when reachable. The poster here counts
what it is handed (no network); pacing is off (``reports.pace_ms: 0``): a real platform paces
the posts by its rate limits (Slack about one message per second per channel, so the wall time
of posting 1,000 messages is the platform's, not Callboard's).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import BenchContext, Result

TARGET_S = 10.0
TEAMS = 1_000
ENTITIES = 5_000


class CountingPoster:
    """Takes each message as a platform poster would, and counts it."""

    platform = "slack"

    def __init__(self) -> None:
        self.messages = 0
        self.lines = 0

    async def post(self, channel: str, reply: Any) -> None:
        self.messages += 1
        self.lines += sum(len(s.items) for s in reply.sections)


def _write(path: Path, shift: int) -> None:
    docs: list[dict[str, Any]] = []
    for t in range(TEAMS):
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {
                    "name": f"team-{t:04d}",
                    "annotations": {"slack.com/channel-id": f"C{t:08d}"},
                },
                "spec": {"type": "team", "children": []},
            }
        )
    for e in range(ENTITIES):
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": f"svc-{e:05d}"},
                "spec": {
                    "type": "service",
                    "lifecycle": "production",
                    "owner": f"team-{(e + shift) % TEAMS:04d}",
                },
            }
        )
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _measure(ctx: BenchContext, label: str, db_url: str | None) -> list[Result]:
    from bot.bootstrap import build_app, load_settings
    from commands import COMMANDS

    location = ctx.work / f"notify-{label.lower()}" / "catalog.yaml"
    location.parent.mkdir(parents=True, exist_ok=True)
    _write(location, 0)
    config = ctx.config(
        f"notify-{label.lower()}",
        location,
        db_url=db_url,
        notifications={},
        reports={"pace_ms": 0},
        catalog={
            "sources": [{"type": "file", "name": "notify", "target": str(location)}],
            "parse_workers": 0,
        },
    )
    poster = CountingPoster()
    app = build_app(load_settings(config), COMMANDS, posters=(poster,))
    try:
        notifier = app.services.notifier
        assert notifier is not None
        app.services.sync.run()
        asyncio.run(notifier.notify())  # the baseline
        _write(location, 1)
        report = app.services.sync.run()
        moved = sum(len(s.owner_changed) for s in report.sources)
        started = time.perf_counter()
        done = asyncio.run(notifier.notify())
        total = time.perf_counter() - started
        return [
            Result(
                "notify",
                f"fan-out of {moved:,} owner changes to {TEAMS:,} teams ({label})",
                total,
                "s",
                f"≤ {TARGET_S:g} s to build and hand to the poster",
                total <= TARGET_S if moved >= ENTITIES else None,
                f"{done.planned.messages:,} messages planned, {poster.messages:,} handed over "
                f"({poster.lines:,} lines shown)",
            )
        ]
    finally:
        app.close()


def run(ctx: BenchContext) -> list[Result]:
    results = _measure(ctx, "SQLite", None)
    if ctx.pg_url:
        results += _measure(ctx, "PostgreSQL", ctx.pg_url)
    return results

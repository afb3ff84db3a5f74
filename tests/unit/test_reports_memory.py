"""Reports on the in-memory store: no database, the same analysis, the same run semantics
(one analysis per run, snapshots once, each fault reported by one caller)."""

from __future__ import annotations

import datetime as dt

from bot.docs.settings import DocsSettings
from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, Item
from bot.reports.service import Reports
from bot.reports.settings import ReportsSettings
from bot.reports.store import PLATFORM_SCOPE, BrokenChannel, RunResults, Snapshot
from bot.store.memory.reports import MemoryReportsStore

NOW = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
TEAM = "group:default/team-a"


def item(ref: str, owner: str | None = None, **kw: object) -> Item:
    kind, _, rest = ref.partition(":")
    values: dict[str, object] = {
        "ref": ref,
        "kind": kind,
        "name": rest.rpartition("/")[2],
        "title": None,
        "owner": owner,
        "lifecycle": "experimental",
        "spec_type": "service",
        "file": "catalog.yaml",
        "line": 1,
        **kw,
    }
    return Item(**values)  # type: ignore[arg-type]


def facts() -> CatalogFacts:
    items = {
        TEAM: item(TEAM, channels={"slack": "C0TEAMA"}),
        "user:default/ana": item("user:default/ana"),
        "component:default/api": item("component:default/api", TEAM),
        "component:default/orphan": item("component:default/orphan"),
    }
    return CatalogFacts(
        items=items,
        members={TEAM: {"user:default/ana"}},
        groups_of={"user:default/ana": {TEAM}},
        children={},
        owned={TEAM: ["component:default/api"]},
        freshness={},
        last_change_id=2,
        generation=1,
    )


def reports(store: MemoryReportsStore) -> Reports:
    return Reports(store, ReportsSettings(), DocsSettings(enabled=False))


async def test_reports_build_from_the_memory_store() -> None:
    rows = [
        ChangeRow(1, NOW - dt.timedelta(days=1), "component:default/api", "added", None, TEAM),
        ChangeRow(2, NOW - dt.timedelta(days=30), "component:default/old", "added", None, TEAM),
    ]
    store = MemoryReportsStore(facts(), rows)
    gaps = await reports(store).build("ownership-gaps", now=NOW)
    assert [g["entity"] for g in gaps.data["gaps"]] == ["component:default/orphan"]
    changes = await reports(store).build("changes", TEAM, NOW)
    assert [c["ref"] for c in changes.data["changes"]] == ["component:default/api"]  # 7 days


async def test_a_run_builds_each_report_once_for_posting() -> None:
    store = MemoryReportsStore(facts())
    service = reports(store)
    run = await service.run(NOW)
    with run.active():
        first = await service.build("digest", TEAM)
        again = await service.build("digest", TEAM)
    assert first is again and first.posted and not first.reply.ephemeral
    assert run.last is first and first.metrics is not None
    outside = await service.build("digest", TEAM, NOW)  # no run active: on demand, in full
    assert not outside.posted and outside.reply.ephemeral


async def test_snapshots_once_per_run_and_faults_reported_once() -> None:
    store = MemoryReportsStore(facts())
    snap = Snapshot(PLATFORM_SCOPE, "daily", "2026-11-02T08:00:00Z", NOW, 2, {"gaps": 1})
    broken = BrokenChannel("slack", "C0GONE", TEAM, "channel_not_found")
    results = RunResults([snap, snap], [broken], [], NOW - dt.timedelta(days=90))
    await store.record_run(results, NOW)
    assert store.snapshots == [snap]
    inputs = await store.read(NOW - dt.timedelta(days=7))
    assert inputs.snapshots == {PLATFORM_SCOPE: snap}
    [claimed] = await store.claim_fault_notices(NOW)
    assert claimed.channel == "C0GONE" and await store.claim_fault_notices(NOW) == []
    await store.release_fault_notices([claimed])  # the notice did not go out
    assert [f.channel for f in await store.claim_fault_notices(NOW)] == ["C0GONE"]
    await store.record_run(RunResults([], [], [("slack", "C0GONE")], NOW), NOW)
    assert await store.faults() == []

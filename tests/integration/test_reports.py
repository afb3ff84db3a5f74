"""The reports on real catalogs: planted problems found exactly, the demo's deliberate gaps,
changes since the last digest, trends, /report in chat and ``callboard report`` on the CLI.

The planted catalog is a real git repository with backdated commits (``planted.py``), synced
and docs-indexed as Callboard always does, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cli import main
from bot.app import App
from bot.bootstrap import build_scheduler
from bot.paging import page_reply
from bot.reports.analysis import Metrics
from bot.reports.render import REPORTS
from bot.reports.store import PLATFORM_SCOPE
from bot.scheduler import Schedule
from tests.conftest import DEMO, AppFactory, FixedClock, aask
from tests.integration.planted import (
    NOW,
    PLANTED_DOCS,
    PLANTED_GAPS,
    ChatPlatform,
    build_planted,
    commit,
    component,
    source,
)

DEMO_GAPS = {
    ("owner-not-found", "component:default/legacy-dispatch-monolith"),
    ("owner-group-empty", "group:default/team-mapping"),
    ("owner-user-not-found", "component:default/city-launch-scripts"),
    ("owner-user-no-group", "user:default/devon.price"),
    ("group-owns-nothing", "group:default/team-loyalty"),
    # the empty team runs map-tiles-service with no on-call (the demo records on-call elsewhere)
    ("oncall-missing", "group:default/team-mapping"),
}


def found(data: dict[str, Any], key: str) -> set[tuple[str, str]]:
    return {(f["code"], f["entity"]) for f in data[key]}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return build_planted(tmp_path / "repo")


def planted_app(
    make_app: AppFactory, location: Path, db_url: str | None = None, **sections: Any
) -> App:
    return make_app(sources=source(location), db_url=db_url, clock=FixedClock(NOW), **sections)


# ----------------------------------------------------------------------------- planted problems


async def test_each_report_finds_exactly_the_planted_problems(
    make_app: AppFactory, planted: Path, db_url: str
) -> None:
    app = planted_app(make_app, planted, db_url)
    reports = app.services.reports
    gaps = await reports.build("ownership-gaps", now=NOW)
    assert found(gaps.data, "gaps") == PLANTED_GAPS
    docs = await reports.build("stale-docs", now=NOW)
    assert found(docs.data, "findings") == PLANTED_DOCS

    # Each names the entity, the problem and what to do, with the file and line to fix.
    by_entity = {g["entity"]: g for g in gaps.data["gaps"]}
    legacy = by_entity["component:default/svc-legacy"]
    assert legacy["owner"] == "group:default/team-gone"
    assert legacy["problem"] == "its owner team-gone is not in the catalog"
    assert legacy["fix"].startswith("Set spec.owner to an existing team in misc.yaml:")
    assert by_entity["group:default/team-ghost"]["affected"] == ["component:default/svc-ghost"]
    assert "but has no members" in by_entity["group:default/team-ghost"]["problem"]
    frank = by_entity["user:default/frank"]
    assert frank["affected"] == ["component:default/svc-frank"]  # its group is not there
    assert "owns 1 entity (svc-frank) but is in no group" in frank["problem"]
    text = gaps.reply.to_text()
    assert "svc-legacy: its owner team-gone is not in the catalog. Set spec.owner" in text
    assert "8 ownership gaps in 31 entities" in text
    # A parent team with no direct members counts its child team's people.
    assert "team-parent" not in text and "svc-parent" not in text

    stale = {f["entity"]: f for f in docs.data["findings"]}
    assert stale["component:default/svc-stale"]["problem"].startswith(
        "docs not updated for 400 days (last on 2025-09-28)"
    )
    assert stale["component:default/svc-behind"]["problem"] == (
        "docs are 140 days older than the code beside them (docs 2026-06-05, code 2026-10-23)"
    )
    assert "runbook.md" in stale["component:default/svc-nav"]["problem"]
    assert docs.data["thresholds"] == {
        "stale_days": 180,
        "behind_code_days": 90,
        "docs_required": ["production"],
    }


async def test_team_reports_show_only_the_teams_own_problems(
    make_app: AppFactory, planted: Path
) -> None:
    app = planted_app(make_app, planted)
    reports = app.services.reports

    async def codes(report: str, team: str) -> set[tuple[str, str]]:
        data = (await reports.build(report, f"group:default/{team}", NOW)).data
        return found(data, "gaps" if report == "ownership-gaps" else "findings")

    assert await codes("stale-docs", "team-a") == {
        ("not-updated", "component:default/svc-stale"),
        ("nav-missing", "component:default/svc-nav"),
    }
    assert await codes("stale-docs", "team-b") == {
        ("behind-code", "component:default/svc-behind"),
        ("docs-missing", "component:default/svc-nodocs"),
        ("undocumented", "component:default/svc-undoc"),
    }
    assert await codes("ownership-gaps", "team-ghost") == {
        ("owner-group-empty", "group:default/team-ghost")
    }
    assert await codes("ownership-gaps", "team-idle") == {
        ("group-owns-nothing", "group:default/team-idle")
    }
    assert await codes("ownership-gaps", "team-a") == set()
    digest = await reports.build("digest", "group:default/team-b", NOW)
    assert digest.data["metrics"]["entities"] == 3
    assert digest.reply.title == "Digest: Team B (team-b)"
    assert "3 docs problems" in (digest.reply.text or "")


async def test_thresholds_come_from_the_docs_section_and_required_lifecycles_from_reports(
    make_app: AppFactory, planted: Path
) -> None:
    app = planted_app(
        make_app,
        planted,
        docs={"stale_days": 500, "behind_code_days": 200},
        reports={"docs_required": ["production", "experimental"]},
    )
    data = (await app.services.reports.build("stale-docs", now=NOW)).data
    codes = found(data, "findings")
    assert ("not-updated", "component:default/svc-stale") not in codes
    assert ("behind-code", "component:default/svc-behind") not in codes
    # Experimental components must now have docs too.
    undocumented = {e for c, e in codes if c == "undocumented"}
    assert "component:default/svc-exp" in undocumented
    assert "component:default/svc-undoc" in undocumented


# ----------------------------------------------------------------------------- the demo catalog


def demo_config(tmp_path: Path) -> Path:
    path = tmp_path / "callboard.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cli.db'}"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
            }
        )
    )
    return path


def test_cli_ownership_gaps_json_lists_the_demo_catalogs_deliberate_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_config(tmp_path)
    assert main(["--config", str(config), "report", "ownership-gaps", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["report"] == "ownership-gaps" and data["scope"] == PLATFORM_SCOPE
    assert found(data, "gaps") == DEMO_GAPS
    assert data["count"] == 6
    assert data["metrics"]["coverage"] == 93.8  # 61 of the 65 entities that need an owner


def test_cli_stale_docs_on_the_demo_and_a_teams_digest_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_config(tmp_path)
    assert main(["--config", str(config), "report", "stale-docs", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    codes = found(data, "findings")
    # The demo's two docs gaps...
    assert {(c, e) for c, e in codes if c != "undocumented"} == {
        ("docs-missing", "component:default/auth-service"),
        ("nav-missing", "component:default/dispatch-service"),
    }
    # ...and every production component without a techdocs-ref, read from the YAML here.
    expected = set()
    for path in DEMO.parent.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Component":
                continue
            ann = doc["metadata"].get("annotations") or {}
            if (
                doc["spec"].get("lifecycle") == "production"
                and "backstage.io/techdocs-ref" not in ann
            ):
                expected.add(f"component:default/{doc['metadata']['name']}")
    assert {e for c, e in codes if c == "undocumented"} == expected
    assert len(expected) == 20

    assert main(["--config", str(config), "report", "digest", "team-mapping", "--no-sync"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Digest: Mapping Team (team-mapping)")
    assert "team-mapping: owns 1 entity (map-tiles-service) but has no members" in text

    assert main(["--config", str(config), "report", "digest", "team-nobody", "--no-sync"]) == 1
    assert "callboard report: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--config", str(config), "report", "gaps"])  # argparse names the choices
    assert "invalid choice: 'gaps'" in capsys.readouterr().err


def test_cli_report_resolves_the_team_as_chat_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``callboard report`` is ``/report`` through the dispatcher: a close spelling is the
    closest team, with the same note as in chat, and the whole report is printed."""
    config = demo_config(tmp_path)
    argv = ["--config", str(config), "report", "ownership-gaps", "team-mappin"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "showing the closest match, group:default/team-mapping" in text
    assert "Ownership gaps: Mapping Team (team-mapping)" in text


# ----------------------------------------------------------------------------- in chat


async def test_report_in_chat_scopes_pages_and_suggests(demo_app: App) -> None:
    reply = await aask(demo_app, "/report digest team-payments")
    assert reply.title == "Digest: Payments Team (team-payments)"
    assert reply.ephemeral and not reply.error
    assert [b.command for b in reply.buttons] == [
        "/report ownership-gaps team-payments",
        "/report stale-docs team-payments",
        "/report changes team-payments",
    ]
    gaps = await aask(demo_app, "/report gaps")  # an alias
    assert gaps.title == "Ownership gaps" and "6 ownership gaps" in (gaps.text or "")
    fuzzy = await aask(demo_app, "/report ownership-gaps team-mappin")
    assert fuzzy.title == "Ownership gaps: Mapping Team (team-mapping)"
    assert any("closest match" in n for n in fuzzy.notes)

    wrong = await aask(demo_app, "/report ownersip")
    assert wrong.error and "Did you mean ownership-gaps?" in (wrong.text or "")
    overview = await aask(demo_app, "/report")
    assert [b.command for b in overview.buttons] == [f"/report {r}" for r in REPORTS]

    # 105 entities were added by the first sync: four full pages and a fifth of five.
    first = await aask(demo_app, "/report changes")
    assert sum(len(s.items) for s in first.sections) == 25
    assert first.more == "/report changes --page 2"
    last = await aask(demo_app, "/report changes --page 5")
    assert sum(len(s.items) for s in last.sections) == 5 and last.more is None
    assert last.title == "Catalog changes (page 5)"
    beyond = await aask(demo_app, "/report changes --page 6")
    assert beyond.error and "has no page 6" in (beyond.text or "")
    other = await aask(demo_app, "/report ownership-gaps user:devon.price")
    assert other.error  # a team is a Group


def test_paging_keeps_summaries_on_the_first_page() -> None:
    from bot.chat import Field, Reply, Section

    reply = Reply(
        title="T",
        text="head",
        sections=(
            Section(fields=(Field("a", "1"),)),
            Section(title="One", items=tuple(f"x{i}" for i in range(3))),
            Section(title="Two", items=tuple(f"y{i}" for i in range(3))),
        ),
    )
    one = page_reply(reply, 1, 4, "/report x")
    assert [s.title for s in one.sections] == [None, "One", "Two"]
    assert one.sections[2].items == ("y0",) and one.more == "/report x --page 2"
    two = page_reply(reply, 2, 4, "/report x")
    assert [s.items for s in two.sections] == [("y1", "y2")] and two.text is None
    assert page_reply(reply, 1, 10, "/report x") is reply


# ----------------------------------------------------------------------------- digests over time


def digest_schedule(**kw: Any) -> Schedule:
    from bot.reports.settings import Target

    values: dict[str, Any] = {
        "id": "daily",
        "cron": "0 9 * * *",
        "timezone": "UTC",
        "report": "digest",
        "teams": True,
        "targets": (Target("slack", "C0PLATFORM"),),
    }
    values.update(kw)
    return Schedule(**values)


async def no_sleep(_: float) -> None:
    return None


async def test_changes_since_the_last_digest_and_the_trend(
    make_app: AppFactory, planted: Path, db_url: str
) -> None:
    clock = FixedClock(NOW)
    app = make_app(sources=source(planted), db_url=db_url, clock=clock)
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    scheduler = build_scheduler(app, [digest_schedule()], sleep=no_sleep)
    first = await scheduler.run(digest_schedule(), NOW)
    assert first.status == "posted"
    # Five teams have a Slack channel, and the platform digest goes to C0PLATFORM.
    assert sorted(slack.channels()) == sorted(
        ["C0TEAMA", "C0TEAMB", "C0GHOST", "C0IDLE", "C0CHILD", "C0PLATFORM"]
    )

    # The catalog moves on: one added, one removed, one handed over, one gap fixed.
    repo = planted.parent
    misc = [d for d in yaml.safe_load_all((repo / "misc.yaml").read_text())]
    misc = [d for d in misc if d["metadata"]["name"] != "svc-exp"]
    for doc in misc:
        if doc["metadata"]["name"] == "svc-parent":
            doc["spec"]["owner"] = "team-b"
        if doc["metadata"]["name"] == "svc-legacy":
            doc["spec"]["owner"] = "team-a"
        if doc["metadata"]["name"] == "svc-undoc":
            doc["metadata"]["description"] = "edited, owner unchanged: not a reported change"
    misc.append(component("svc-new", "team-a"))
    commit(repo, {"misc.yaml": yaml.safe_dump_all(misc, sort_keys=False)}, NOW, "moves")
    app.services.sync.run()
    clock.advance(days=1)

    reports = app.services.reports
    changes = (await reports.build("changes", now=clock.now)).data
    assert {(c["change"], c["ref"]) for c in changes["changes"]} == {
        ("added", "component:default/svc-new"),
        ("removed", "component:default/svc-exp"),
        ("owner-changed", "component:default/svc-parent"),
        ("owner-changed", "component:default/svc-legacy"),
    }
    assert changes["window"]["previous_digest"] == NOW.isoformat()
    team_a = (await reports.build("changes", "group:default/team-a", clock.now)).data
    assert {(c["change"], c["ref"]) for c in team_a["changes"]} == {
        ("added", "component:default/svc-new"),
        ("removed", "component:default/svc-exp"),
        ("owner-changed", "component:default/svc-legacy"),
    }
    team_b = (await reports.build("changes", "group:default/team-b", clock.now)).data
    [moved] = team_b["changes"]
    assert (moved["old_owner"], moved["new_owner"]) == (
        "group:default/team-parent",
        "group:default/team-b",
    )

    digest = await reports.build("digest", now=clock.now)
    before, after = Metrics.from_dict(digest.data["previous"]), digest.metrics
    assert after is not None and before.gaps == 8 and after.gaps == 7
    assert digest.data["trend"]["gaps"] == -1
    assert digest.data["trend"]["coverage"] > 0
    assert "7 ownership gaps (−1)" in (digest.reply.text or "")
    assert "4 changes since the last digest" in (digest.reply.text or "")

    # The next digest starts where this one ends.
    slack.posts.clear()
    second = await scheduler.run(digest_schedule(), clock.now.replace(hour=9, minute=0))
    assert second.status == "posted"
    clock.advance(days=1)
    assert (await reports.build("changes", now=clock.now)).data["changes"] == []
    nothing = await reports.build("digest", "group:default/team-child", clock.now)
    assert nothing.empty
    assert (nothing.reply.text or "").startswith("All clear for Team Child (team-child): 1 entity")


async def test_an_empty_digest_is_an_all_clear_or_nothing_per_config(
    make_app: AppFactory, planted: Path
) -> None:
    clock = FixedClock(NOW)
    app = make_app(sources=source(planted), clock=clock)
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    scheduler = build_scheduler(app, [], sleep=no_sleep)
    await scheduler.run(digest_schedule(), NOW)  # the first digest lists the initial import

    clock.advance(days=1)
    slack.posts.clear()
    await scheduler.run(digest_schedule(), clock.now)
    child = [p for p in slack.posts if p.channel == "C0CHILD"]
    assert [p.reply.title for p in child] == ["Digest: Team Child (team-child)"]
    assert (child[0].reply.text or "").startswith("All clear")
    assert not child[0].reply.ephemeral

    clock.advance(days=1)
    slack.posts.clear()
    outcome = await scheduler.run(digest_schedule(when_empty="skip"), clock.now)
    assert "C0CHILD" not in slack.channels()
    assert "C0GHOST" in slack.channels()  # team-ghost still has its gap
    skipped = [d for d in outcome.deliveries if d.status == "skipped"]
    assert [(d.channel, d.scope) for d in skipped] == [("C0CHILD", "group:default/team-child")]
    assert outcome.status == "posted"


def test_changes_fold_to_one_net_change_per_entity() -> None:
    import datetime as dt

    from bot.reports.changes import ChangeRow, net_changes

    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    rows = [
        ChangeRow(1, at, "component:default/a", "added", None, "group:default/x"),
        ChangeRow(2, at, "component:default/a", "removed", "group:default/x", None),
        ChangeRow(
            3, at, "component:default/b", "owner_changed", "group:default/x", "group:default/y"
        ),
        ChangeRow(4, at, "component:default/b", "modified", "group:default/y", "group:default/y"),
        ChangeRow(
            5, at, "component:default/b", "owner_changed", "group:default/y", "group:default/z"
        ),
        ChangeRow(6, at, "component:default/c", "removed", "group:default/x", None),
        ChangeRow(7, at, "component:default/c", "added", None, "group:default/x"),
        ChangeRow(
            8, at, "component:default/d", "owner_changed", "group:default/x", "group:default/y"
        ),
        ChangeRow(
            9, at, "component:default/d", "owner_changed", "group:default/y", "group:default/x"
        ),
        ChangeRow(10, at, "component:default/e", "modified", "group:default/x", "group:default/x"),
    ]
    net = net_changes(rows)
    # a: added and removed again; c: removed and back with its owner; d: handed back; e: edited.
    assert [(c.ref, c.change, c.old_owner, c.new_owner) for c in net] == [
        ("component:default/b", "owner-changed", "group:default/x", "group:default/z"),
    ]
    assert net[0].line_text() == "b moved from x to z"

"""Change notifications, the pure parts: the config section (errors name the key), quiet
hours across midnight and time zones, and which lines a batch tells whom."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import parse_settings
from bot.docs.model import DocsFreshness
from bot.docs.settings import DocsSettings
from bot.errors import ConfigError
from bot.notify.model import Subscription
from bot.notify.plan import EntityFacts, address, conditions_now, lines_of
from bot.notify.render import notification_reply
from bot.notify.settings import NotificationsSettings, QuietHours
from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, Item
from bot.reports.settings import Target

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def settings(tmp_path: Path, section: Any) -> NotificationsSettings:
    config = {"database": {"url": "sqlite://"}, "notifications": section}
    parsed = parse_settings(config, "callboard.yaml", tmp_path)
    return parsed.section("notifications", NotificationsSettings)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"changes": ["moved", "added"]},
            "callboard.yaml: notifications.changes has 'moved'; change types: added, moved-in, "
            "moved-out, removed, owner-unknown, docs-stale",
        ),
        (
            {"routes": [{"channels": ["slack:C0X"]}]},
            "callboard.yaml: notifications.routes[0].match is required: one or more of kind, "
            "type, system, lifecycle, tag, owner",
        ),
        (
            {"routes": [{"match": {"colour": "red"}, "channels": ["slack:C0X"]}]},
            "callboard.yaml: unknown key notifications.routes[0].match.colour",
        ),
        (
            {"routes": [{"match": {"kind": "api"}}]},
            "callboard.yaml: notifications.routes[0].channels must list at least one "
            "platform:channel (e.g. slack:C0PLATFORM)",
        ),
        (
            {"routes": [{"match": {"kind": "api"}, "channels": ["teams:general"]}]},
            "callboard.yaml: notifications.routes[0].channels must be platform:channel with "
            "platform one of slack, discord, console (e.g. slack:C0PLATFORM), found "
            "'teams:general'",
        ),
        (
            {"routes": [{"match": {"system": "a:b:/"}, "channels": ["slack:C0X"]}]},
            "callboard.yaml: notifications.routes[0].match.system has 'a:b:/', which is not an "
            "entity ref",
        ),
        (
            {"quiet_hours": [{"timezone": "Mars/Olympus", "start": "20:00", "end": "08:00"}]},
            "callboard.yaml: notifications.quiet_hours[0].timezone is 'Mars/Olympus', which is "
            "not an IANA time zone (e.g. Europe/Rome, UTC)",
        ),
        (
            {"quiet_hours": [{"start": "8pm", "end": "08:00"}]},
            "callboard.yaml: notifications.quiet_hours[0].start must be a time of day as HH:MM "
            "(e.g. 20:00), found '8pm'",
        ),
        (
            {"quiet_hours": [{"start": "08:00", "end": "08:00"}]},
            "callboard.yaml: notifications.quiet_hours[0].end is the same as start (08:00): "
            "the window would be empty",
        ),
        (
            {
                "quiet_hours": [
                    {"start": "20:00", "end": "08:00"},
                    {"start": "22:00", "end": "06:00"},
                ]
            },
            "callboard.yaml: notifications.quiet_hours[1] covers every channel, as an earlier "
            "entry does: give it channels:",
        ),
        (
            {"max_items": 0},
            "callboard.yaml: notifications.max_items must be at least 1, found 0",
        ),
    ],
)
def test_bad_notifications_config_names_the_key(tmp_path: Path, section: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, section)
    assert str(caught.value).startswith(message)


def test_the_section_is_off_when_absent_and_on_when_present(tmp_path: Path) -> None:
    absent = parse_settings({"database": {"url": "sqlite://"}}, "callboard.yaml", tmp_path)
    assert absent.optional_section("notifications", NotificationsSettings) == (
        NotificationsSettings()
    )
    assert not NotificationsSettings().enabled
    on = settings(
        tmp_path, {"routes": [{"match": {"system": "payments"}, "channels": "slack:C0P"}]}
    )
    assert on.enabled
    [route] = on.routes
    assert route.systems == frozenset({"system:default/payments"})
    assert route.targets == (Target("slack", "C0P"),)
    assert not settings(tmp_path, {"enabled": False}).enabled


def test_quiet_hours_across_midnight_hold_until_the_local_end() -> None:
    rome = QuietHours("Europe/Rome", dt.time(20, 0), dt.time(8, 0))
    # 21:30 in Rome (CET, UTC+1): held until 08:00 Rome the next day.
    assert rome.hold_until(dt.datetime(2026, 11, 2, 20, 30, tzinfo=dt.UTC)) == dt.datetime(
        2026, 11, 3, 7, 0, tzinfo=dt.UTC
    )
    # 05:00 in Rome: held until 08:00 the same day.
    assert rome.hold_until(dt.datetime(2026, 11, 3, 4, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 11, 3, 7, 0, tzinfo=dt.UTC
    )
    assert rome.hold_until(dt.datetime(2026, 11, 3, 7, 0, tzinfo=dt.UTC)) is None  # 08:00
    # Summer time (CEST, UTC+2): the same local end is an hour earlier in UTC.
    assert rome.hold_until(dt.datetime(2026, 7, 1, 21, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 7, 2, 6, 0, tzinfo=dt.UTC
    )
    lunch = QuietHours("UTC", dt.time(12, 0), dt.time(13, 0))
    assert lunch.hold_until(dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC)) == dt.datetime(
        2026, 7, 1, 13, 0, tzinfo=dt.UTC
    )
    assert lunch.hold_until(dt.datetime(2026, 7, 1, 11, 59, tzinfo=dt.UTC)) is None


def item(ref: str, owner: str | None = None, **more: Any) -> Item:
    kind, _, rest = ref.partition(":")
    return Item(ref, kind, rest.rpartition("/")[2], None, owner, None, None, None, None, **more)


def facts(*items: Item, freshness: dict[str, DocsFreshness] | None = None) -> CatalogFacts:
    return CatalogFacts(
        items={i.ref: i for i in items},
        members={},
        groups_of={},
        children={},
        owned={},
        freshness=freshness or {},
        last_change_id=0,
        generation=1,
    )


TEAM_A = "group:default/team-a"
TEAM_B = "group:default/team-b"


def row(id: int, ref: str, change: str, old: str | None, new: str | None) -> ChangeRow:
    return ChangeRow(id, NOW, ref, change, old, new)


def test_lines_tell_adds_moves_removals_and_new_conditions_once() -> None:
    stale = DocsFreshness(
        "component:default/docs-old",
        "dir:.",
        None,
        1,
        1,
        1,
        NOW - dt.timedelta(days=400),
        None,
        "git",
        (),
        False,
        (),
    )
    catalog = facts(
        item(TEAM_A, channels={"slack": "C0A"}),
        item(TEAM_B, channels={"slack": "C0B", "discord": "123456789012345678"}),
        item("component:default/new", TEAM_A),
        item("component:default/moved", TEAM_B),
        item("component:default/orphan", "group:default/gone"),
        item("component:default/docs-old", TEAM_A, documented=True),
        freshness={"component:default/docs-old": stale},
    )
    rows = [
        row(1, "component:default/new", "added", None, TEAM_A),
        row(2, "component:default/moved", "owner_changed", TEAM_A, TEAM_B),
        row(3, "component:default/gone", "removed", TEAM_B, None),
        row(4, "component:default/flip", "added", None, TEAM_A),
        row(5, "component:default/flip", "removed", TEAM_A, None),  # net: no change
    ]
    current = conditions_now(catalog, NOW, DocsSettings())
    assert set(current) == {
        ("component:default/orphan", "owner-unknown"),
        ("component:default/docs-old", "docs-stale"),
    }
    told = {("component:default/orphan", "owner-unknown")}  # told by an earlier batch
    lines = lines_of(rows, catalog, current, told)
    assert [(x.change, x.ref, x.team) for x in lines] == [
        ("added", "component:default/new", TEAM_A),
        ("removed", "component:default/gone", TEAM_B),
        ("moved-in", "component:default/moved", TEAM_B),
        ("moved-out", "component:default/moved", TEAM_A),
        ("docs-stale", "component:default/docs-old", TEAM_A),
    ]
    assert (
        lines[-1].text()
        == "docs stale: docs-old: docs not updated for 400 days (last on 2025-11-01)"
    )

    follower = Subscription("slack", "C0WATCH", "component:default/moved", "entity", "x", NOW)
    messages = address(
        lines,
        catalog,
        {},
        [follower],
        NotificationsSettings(enabled=True, changes=frozenset({"moved-in", "moved-out", "added"})),
        {"slack"},
        NOW,
        "https://bs.example",
    )
    got = {str(m.target): [(x.change, x.ref) for x in m.lines] for m in messages}
    assert got == {
        "slack:C0A": [("added", "component:default/new"), ("moved-out", "component:default/moved")],
        "slack:C0B": [("moved-in", "component:default/moved")],  # no Discord poster
        "slack:C0WATCH": [  # by team: team-a's side first
            ("moved-out", "component:default/moved"),
            ("moved-in", "component:default/moved"),
        ],
    }
    assert messages[0].lines[0].url == "https://bs.example/catalog/default/component/new"


def test_a_route_by_system_and_tag_and_the_fallback() -> None:
    catalog = facts(
        item(TEAM_A), item("component:default/x", TEAM_A), item("api:default/y", TEAM_A)
    )
    lines = lines_of(
        [
            row(1, "component:default/x", "added", None, TEAM_A),
            row(2, "api:default/y", "added", None, TEAM_A),
        ],
        catalog,
        {},
        set(),
    )
    section = {
        "routes": [
            {"match": {"system": "shop", "tag": ["pci", "gdpr"]}, "channels": ["slack:C0PCI"]}
        ],
        "fallback": ["console:platform"],
    }
    config = parse_settings(
        {"database": {"url": "sqlite://"}, "notifications": section}, "c.yaml", Path(".")
    ).section("notifications", NotificationsSettings)
    details = {
        "component:default/x": EntityFacts("system:default/shop", frozenset({"gdpr"})),
        "api:default/y": EntityFacts("system:default/shop", frozenset()),
    }
    messages = address(lines, catalog, details, [], config, {"slack", "console"}, NOW)
    got = {str(m.target): [x.ref for x in m.lines] for m in messages}
    assert got == {
        "slack:C0PCI": ["component:default/x"],
        "console:platform": ["api:default/y"],  # team-a has no channel, no route matched
    }


def test_a_huge_batch_keeps_500_lines_per_message_and_counts_the_rest() -> None:
    catalog = facts(item(TEAM_A))
    rows = [row(i, f"component:default/c{i:04d}", "added", None, TEAM_A) for i in range(1, 601)]
    lines = lines_of(rows, catalog, {}, set())
    config = NotificationsSettings(enabled=True, fallback=(Target("console", "ops"),))
    [message] = address(lines, catalog, {}, [], config, {"console"}, NOW)
    assert (len(message.lines), message.omitted) == (500, 100)
    reply = notification_reply(message.lines, message.teams, 20, omitted=message.omitted)
    assert reply.text == "600 changes after the latest catalog sync."
    assert reply.title == "Catalog changes for team-a"
    assert reply.sections[0].items[-1] == "… and 480 more (/report changes team-a)"
    assert reply.sections[-1].items == ("… and 100 more changes not listed",)
    assert len(reply.sections[0].items) == 21


def test_an_owner_that_leaves_is_told_once_to_the_team_it_came_from() -> None:
    catalog = facts(
        item(TEAM_A, channels={"slack": "C0A"}),
        item("component:default/x", "group:default/typo"),
        item("component:default/y", "group:default/gone"),
    )
    rows = [row(1, "component:default/x", "owner_changed", TEAM_A, "group:default/typo")]
    current = conditions_now(catalog, NOW, DocsSettings())
    lines = lines_of(rows, catalog, current, set())
    assert [(x.change, x.ref, x.team) for x in lines] == [
        ("moved-in", "component:default/x", "group:default/typo"),
        ("moved-out", "component:default/x", TEAM_A),
        ("owner-unknown", "component:default/x", TEAM_A),
        ("owner-unknown", "component:default/y", None),
    ]
    assert lines[2].text() == "owner unknown: x: its owner typo is not in the catalog"
    config = NotificationsSettings(enabled=True, fallback=(Target("slack", "C0PLATFORM"),))
    messages = address(lines, catalog, {}, [], config, {"slack"}, NOW)
    got = {str(m.target): [(x.change, x.ref) for x in m.lines] for m in messages}
    assert got == {
        "slack:C0A": [
            ("moved-out", "component:default/x"),
            ("owner-unknown", "component:default/x"),
        ],
        "slack:C0PLATFORM": [  # no channel for typo, none for y's team that left
            ("moved-in", "component:default/x"),
            ("owner-unknown", "component:default/y"),
        ],
    }
    assert lines_of([], catalog, current, set(current)) == []  # told once

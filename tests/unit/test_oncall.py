"""The on-call directory against fake PagerDuty and Opsgenie servers on loopback (real HTTP)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, Section
from bot.oncall.directory import ProviderDirectory, build_directory
from bot.oncall.model import (
    OPSGENIE,
    PAGERDUTY,
    OnCallPerson,
    OnCallTarget,
    targets_of,
    uncovered,
)
from bot.oncall.providers import OpsgenieProvider, PagerDutyProvider
from bot.oncall.settings import OnCallSettings, parse_oncall
from bot.reports.facts import CatalogFacts, Item
from bot.reports.oncall import check_schedules
from tests.oncall_fakes import OG_KEY, PD_TOKEN, FakeOpsgenie, FakePagerDuty, pd_entry, serve

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
SERVICE = OnCallTarget(PAGERDUTY, "service", "PSVC1")


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(
        services={"PSVC1": "PPOL1"},
        oncalls={
            "PPOL1": [
                pd_entry(
                    "U1",
                    "Ana Silva",
                    "ana@x.example",
                    1,
                    "2026-12-07T09:00:00Z",
                    "2026-12-08T09:00:00Z",
                ),
                pd_entry("U2", "Bo Chen", "bo@x.example", 2, None, None, schedule=None),
                pd_entry(
                    "U3",
                    "Cy Diaz",
                    "cy@x.example",
                    1,
                    "2026-12-08T09:00:00Z",
                    "2026-12-09T09:00:00Z",
                ),
            ]
        },
    )
    yield from serve(fake)  # type: ignore[misc]


@pytest.fixture
def og() -> Iterator[FakeOpsgenie]:
    fake = FakeOpsgenie(
        schedules={"payments_schedule": "payments", "other": "infra"},
        on_call={"payments_schedule": ["dee@x.example"], "other": ["zed@x.example"]},
        next_on_call={"payments_schedule": ["eve@x.example"]},
    )
    yield from serve(fake)  # type: ignore[misc]


def directory(
    pd: FakePagerDuty | None = None, og: FakeOpsgenie | None = None, **kw: float
) -> ProviderDirectory:
    providers: dict[str, PagerDutyProvider | OpsgenieProvider] = {}
    if pd is not None:
        providers[PAGERDUTY] = PagerDutyProvider(pd.url, PD_TOKEN)
    if og is not None:
        providers[OPSGENIE] = OpsgenieProvider(og.url, OG_KEY)
    return ProviderDirectory(providers, clock=lambda: NOW, **kw)


async def test_pagerduty_service_policy_then_oncalls_by_level_with_next(pd: FakePagerDuty) -> None:
    answer = await directory(pd).lookup(SERVICE)
    assert answer.error is None
    assert [(s.level, s.person.name, s.person.email) for s in answer.now] == [
        (1, "Ana Silva", "ana@x.example"),
        (2, "Bo Chen", "bo@x.example"),
    ]
    assert answer.now[0].end == dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC)
    assert [(s.level, s.person.name) for s in answer.next] == [(1, "Cy Diaz")]
    assert pd.paths() == ["/services/PSVC1", "/oncalls"]
    oncalls = pd.requests[1]
    assert oncalls.headers["Authorization"] == f"Token token={PD_TOKEN}"
    assert "application/vnd.pagerduty+json;version=2" in oncalls.headers["Accept"]
    assert oncalls.query["escalation_policy_ids[]"] == ["PPOL1"]
    assert oncalls.query["include[]"] == ["users"]
    assert oncalls.query["since"] == ["2026-12-07T12:00:00Z"]


async def test_pagerduty_pages_through_offset_and_more(pd: FakePagerDuty) -> None:
    pd.oncalls["PPOL1"] = [
        pd_entry(f"U{i}", f"Person {i:03}", f"p{i}@x.example", 1 + i % 3, None, None)
        for i in range(230)
    ]
    answer = await directory(pd).lookup(SERVICE)
    assert len(answer.now) == 230
    offsets = [r.query["offset"][0] for r in pd.requests if r.path == "/oncalls"]
    assert offsets == ["0", "100", "200"]


async def test_answers_are_cached_per_target(pd: FakePagerDuty) -> None:
    d = directory(pd, cache_seconds=60)
    first = await d.lookup(SERVICE)
    second = await d.lookup(SERVICE)
    assert second == first
    assert len(pd.requests) == 2  # one service, one /oncalls: the second answer is the cache's


async def test_cache_expires(pd: FakePagerDuty) -> None:
    ticks = [0.0]
    d = directory(pd, cache_seconds=60)
    d._monotonic = lambda: ticks[0]
    await d.lookup(SERVICE)
    ticks[0] = 61.0
    await d.lookup(SERVICE)
    # the answer is asked again; the service's escalation policy is kept (it rarely changes)
    assert pd.paths() == ["/services/PSVC1", "/oncalls", "/oncalls"]


async def test_429_within_the_budget_waits_for_retry_after_then_answers(pd: FakePagerDuty) -> None:
    pd.rate_limit_times, pd.retry_after = 1, "0"
    answer = await directory(pd).lookup(SERVICE)
    assert answer.error is None and answer.now
    assert pd.paths() == ["/services/PSVC1", "/services/PSVC1", "/oncalls"]


async def test_429_beyond_the_budget_is_said_and_the_provider_left_alone(pd: FakePagerDuty) -> None:
    pd.rate_limit_times, pd.retry_after = 5, "30"
    d = directory(pd)
    answer = await d.lookup(SERVICE)
    assert answer.error == "PagerDuty is rate limiting us; retry after 30 s"
    again = await d.lookup(SERVICE)
    assert again.error is not None and "rate limited" in again.error
    assert len(pd.requests) == 1  # the second ask waited for Retry-After: nothing sent


async def test_provider_down_is_one_line_not_a_crash(pd: FakePagerDuty) -> None:
    pd.fail_status = 500
    answer = await directory(pd).lookup(SERVICE)
    assert answer.error == "PagerDuty did not answer: HTTP 500: Internal Server Error"
    assert answer.now == ()


async def test_unreachable_provider_is_said() -> None:
    d = ProviderDirectory(
        {PAGERDUTY: PagerDutyProvider("http://127.0.0.1:9", PD_TOKEN)}, clock=lambda: NOW
    )
    answer = await d.lookup(SERVICE)
    assert answer.error is not None and answer.error.startswith("PagerDuty did not answer: ")


async def test_wrong_token_is_the_providers_message(pd: FakePagerDuty) -> None:
    d = ProviderDirectory({PAGERDUTY: PagerDutyProvider(pd.url, "wrong")}, clock=lambda: NOW)
    answer = await d.lookup(SERVICE)
    assert answer.error == "PagerDuty did not answer: HTTP 401: Unauthorized"


async def test_a_slow_provider_misses_the_budget_and_fills_the_cache_later(
    pd: FakePagerDuty,
) -> None:
    pd.delay = 0.3
    d = directory(pd, budget_seconds=0.2)
    late = await d.lookup(SERVICE)
    assert late.error == "PagerDuty did not answer within 0.2 s"
    for _ in range(200):  # hang guard: the lookup goes on and lands in the cache
        if SERVICE.key in d._cache:
            break
        await asyncio.sleep(0.05)
    pd.delay = 0
    answer = await d.lookup(SERVICE)
    assert answer.error is None and answer.now
    assert pd.paths() == ["/services/PSVC1", "/oncalls"]


async def test_a_late_lookup_is_finished_for_the_asker_and_never_waited_for_twice(
    pd: FakePagerDuty,
) -> None:
    """``late`` marks an answer still coming; ``finish`` gives it once in. A second ask while
    it runs past its budget answers at once (the budget counts from when the lookup started);
    one request reaches PagerDuty for all of them."""
    pd.hold = threading.Event()
    d = directory(pd, budget_seconds=0.1)
    try:
        first = await d.lookup(SERVICE)
        assert first.late and first.error == "PagerDuty did not answer within 0.1 s"
        again = await asyncio.wait_for(d.lookup(SERVICE), 5)  # hang guard only
        assert again.late
        pd.hold.set()
        done = await d.finish(SERVICE)
    finally:
        pd.hold.set()
    assert not done.late and done.error is None
    assert [s.person.name for s in done.now] == ["Ana Silva", "Bo Chen"]
    assert pd.paths() == ["/services/PSVC1", "/oncalls"]
    assert await d.finish(SERVICE) == done  # finished meanwhile: the same answer, no request
    assert pd.paths() == ["/services/PSVC1", "/oncalls"]


async def test_a_late_lookup_that_fails_finishes_with_the_providers_error(
    pd: FakePagerDuty,
) -> None:
    pd.hold, pd.fail_status = threading.Event(), 503
    d = directory(pd, budget_seconds=0.1)
    try:
        assert (await d.lookup(SERVICE)).late
        pd.hold.set()
        done = await d.finish(SERVICE)
    finally:
        pd.hold.set()
    assert done.error == "PagerDuty did not answer: HTTP 503: Internal Server Error"


async def test_unknown_service_is_pagerdutys_not_found(pd: FakePagerDuty) -> None:
    answer = await directory(pd).lookup(OnCallTarget(PAGERDUTY, "service", "NOPE"))
    assert answer.error == "PagerDuty did not answer: HTTP 404: Not Found"


async def test_opsgenie_team_schedules_on_call_and_next(og: FakeOpsgenie) -> None:
    answer = await directory(og=og).lookup(OnCallTarget(OPSGENIE, "team", "payments"))
    assert answer.error is None
    assert [(s.person, s.schedule) for s in answer.now] == [
        (OnCallPerson("dee@x.example", "dee@x.example"), "payments_schedule")
    ]
    assert [s.person.name for s in answer.next] == ["eve@x.example"]
    assert og.paths() == [
        "/v2/schedules",
        "/v2/schedules/payments_schedule/on-calls",
        "/v2/schedules/payments_schedule/next-on-calls",
    ]
    assert all(r.headers["Authorization"] == f"GenieKey {OG_KEY}" for r in og.requests)
    assert og.requests[1].query["scheduleIdentifierType"] == ["name"]
    assert og.requests[1].query["flat"] == ["false"]


async def test_opsgenie_schedule_annotation_and_errors(og: FakeOpsgenie) -> None:
    d = directory(og=og)
    answer = await d.lookup(OnCallTarget(OPSGENIE, "schedule", "other"))
    assert [s.person.name for s in answer.now] == ["zed@x.example"]
    missing = await d.lookup(OnCallTarget(OPSGENIE, "schedule", "gone"))
    assert missing.error == "Opsgenie did not answer: HTTP 404: No schedule exists with name [gone]"
    team = await d.lookup(OnCallTarget(OPSGENIE, "team", "nobody"))
    assert team.error == "Opsgenie did not answer: team nobody owns no schedule"


async def test_opsgenie_429_body(og: FakeOpsgenie) -> None:
    og.rate_limit_times, og.retry_after = 3, "20"
    answer = await directory(og=og).lookup(OnCallTarget(OPSGENIE, "schedule", "other"))
    assert answer.error == "Opsgenie is rate limiting us; retry after 20 s"


async def test_each_request_is_counted_with_its_error_word(
    pd: FakePagerDuty, og: FakeOpsgenie
) -> None:
    from bot.metrics import Metrics
    from tests.e2e.test_ops import sample

    m = Metrics()
    d = ProviderDirectory(
        {
            PAGERDUTY: PagerDutyProvider("http://127.0.0.1:9", PD_TOKEN, m),  # nothing listens
            OPSGENIE: OpsgenieProvider(og.url, OG_KEY, m),
        },
        clock=lambda: NOW,
    )
    og.rate_limit_times, og.retry_after = 3, "20"
    await d.lookup(OnCallTarget(OPSGENIE, "schedule", "other"))
    await d.lookup(SERVICE)
    text = m.exposition().decode()
    errors = "callboard_api_call_errors_total"
    assert sample(text, errors, api="opsgenie", endpoint="on-calls", error="http_429") == 1
    assert sample(text, errors, api="pagerduty", endpoint="services", error="connection") == 1


async def test_a_provider_without_token_is_not_configured() -> None:
    d = build_directory(OnCallSettings(), {})
    assert d.providers() == ()
    answer = await d.lookup(SERVICE)
    assert answer.error == "PagerDuty is not configured (no API token set)"
    both = build_directory(OnCallSettings(), {"PAGERDUTY_TOKEN": "a", "OPSGENIE_API_KEY": "b"})
    assert both.providers() == (PAGERDUTY, OPSGENIE)


def test_targets_from_annotations() -> None:
    assert targets_of(
        {
            "pagerduty.com/service-id": "PSVC1",
            "opsgenie.com/team": "payments",
            "opsgenie.com/schedule": " s1 ",
        }
    ) == [
        SERVICE,
        OnCallTarget(OPSGENIE, "schedule", "s1"),
        OnCallTarget(OPSGENIE, "team", "payments"),
    ]
    assert targets_of({"pagerduty.com/integration-key": "k"}) == []


def test_config_section(tmp_path: Path) -> None:
    sec = Section(
        {"cache_seconds": 5, "budget_ms": 800, "opsgenie": {"url": "https://api.eu.opsgenie.com/"}},
        "oncall",
        "cb.yaml",
        tmp_path,
    )
    got = parse_oncall(sec)
    assert got == OnCallSettings(
        cache_seconds=5, budget_ms=800, opsgenie_url="https://api.eu.opsgenie.com"
    )
    assert parse_oncall(Section(None, "oncall", "cb.yaml", tmp_path)) == OnCallSettings()
    paging = parse_oncall(
        Section(
            {
                "pagerduty": {"events_url": "http://proxy/"},
                "page": {"dedup_minutes": 0, "allowed": ["sre", "user:default/ana"]},
            },
            "oncall",
            "cb.yaml",
            tmp_path,
        )
    )
    assert (paging.events_url, paging.dedup_minutes, paging.page_allowed) == (
        "http://proxy",
        0,
        ("sre", "user:default/ana"),
    )
    with pytest.raises(ConfigError, match="PAGERDUTY_TOKEN environment variable"):
        parse_oncall(Section({"pagerduty": {"token": "x"}}, "oncall", "cb.yaml", tmp_path))
    with pytest.raises(ConfigError, match=r"unknown key oncall\.opsgenie\.region"):
        parse_oncall(Section({"opsgenie": {"region": "eu"}}, "oncall", "cb.yaml", tmp_path))


# --------------------------------------------------------------------- schedule gaps (reports)


def at(hours: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=hours)


def test_uncovered_spans_merge_overlaps_and_open_ends() -> None:
    week = (NOW, at(168))
    assert uncovered([], *week) == [week]
    assert uncovered([(None, None)], *week) == []  # always on call
    assert uncovered([(at(-5), at(10)), (at(8), at(20)), (at(30), None)], *week) == [
        (at(20), at(30))
    ]
    assert uncovered([(None, at(1)), (at(1) + dt.timedelta(seconds=30), at(200))], *week) == []
    assert uncovered([(at(200), at(300))], *week) == [week]  # outside the window


async def test_pagerduty_gaps_are_the_first_levels_uncovered_time(pd: FakePagerDuty) -> None:
    found = await directory(pd).gaps(SERVICE, NOW, at(168))
    # Ana then Cy at level 1 from 09:00 today to 09:00 in two days; Bo (level 2) does not count
    assert found.error is None
    assert found.gaps == (("PagerDuty service PSVC1", at(45), at(168)),)
    oncalls = [r for r in pd.requests if r.path == "/oncalls"]
    assert oncalls[-1].query["since"] == ["2026-12-07T12:00:00Z"]
    assert oncalls[-1].query["until"] == ["2026-12-14T12:00:00Z"]


async def test_opsgenie_gaps_from_each_team_schedules_timeline(og: FakeOpsgenie) -> None:
    og.timeline = {
        "payments_schedule": [
            ("dee@x.example", "2026-12-07T00:00:00Z", "2026-12-09T00:00:00Z"),
            ("eve@x.example", "2026-12-10T00:00:00Z", "2026-12-20T00:00:00Z"),
        ]
    }
    found = await directory(og=og).gaps(OnCallTarget(OPSGENIE, "team", "payments"), NOW, at(168))
    hole = (dt.datetime(2026, 12, 9, tzinfo=dt.UTC), dt.datetime(2026, 12, 10, tzinfo=dt.UTC))
    assert found.gaps == (("Opsgenie schedule payments_schedule", *hole),)
    [timeline] = [r for r in og.requests if r.path.endswith("/timeline")]
    assert timeline.query["date"] == ["2026-12-07T12:00:00Z"]
    assert timeline.query["interval"] == ["1"] and timeline.query["intervalUnit"] == ["weeks"]
    assert timeline.headers["Authorization"] == f"GenieKey {OG_KEY}"


async def test_schedule_check_down_slow_or_unconfigured_never_raises(pd: FakePagerDuty) -> None:
    pd.fail_status = 503
    down = await directory(pd).gaps(SERVICE, NOW, at(168))
    assert down.error == "PagerDuty did not answer: HTTP 503: Internal Server Error"
    assert down.gaps == ()
    unset = await directory().gaps(SERVICE, NOW, at(168))
    assert unset.error == "PagerDuty is not configured"
    pd.fail_status, pd.hold = None, threading.Event()
    facts = CatalogFacts(
        items={
            "component:default/a": Item(
                "component:default/a", "component", "a", None, None, None, "service", None, None,
                oncall=(SERVICE, OnCallTarget(OPSGENIE, "team", "payments")),
            )
        },
        members={}, groups_of={}, children={}, owned={}, freshness={},
        last_change_id=0, generation=0,
    )  # fmt: skip
    try:
        checked = await check_schedules(directory(pd), facts, NOW, budget=0.1)
    finally:
        pd.hold.set()
    assert checked.results == ()
    # the slow one is said; Opsgenie has no key here, so it is not checked at all
    assert checked.unchecked_lines() == (
        "On-call schedules not checked (no answer within 0.1 s): PagerDuty service PSVC1",
    )

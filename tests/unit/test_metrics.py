"""Metrics: the families the issue lists, in Prometheus's text format, served two ways."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics_http import OpsServer, add_metrics_route
from bot.apicalls import counted
from bot.bootstrap import load_settings
from bot.errors import ConfigError
from bot.metrics import (
    CONTENT_TYPE,
    Metrics,
    MetricsSettings,
    sample_loop_lag,
)
from bot.oncall.model import ProviderError
from tests.conftest import DEMO, AppFactory


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def at(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_every_family_is_exposed_with_its_labels() -> None:
    m = Metrics()
    m.command_answered("whoowns", "slack", "ok", 0.02)
    m.command_answered("whoowns", "slack", "ok", 0.2)
    m.command_answered("unknown", "discord", "not_found", 0.001)
    m.dialog_submitted("scaffold", "slack", "invalid")
    m.sync_finished(
        "demo", "ok", 1.5, entities=105, problems={"warning": 3}, finished_at=1_700_000_000.0
    )
    m.sync_finished("backstage", "error", 0.3)
    m.docs_index_size(sites=4, pages=40, sections=300)
    m.scheduled_run("weekly-digest", "posted")
    m.scheduled_run("weekly-digest", "taken")
    m.delivery("slack", "posted")
    m.delivery("slack", "rate-limited")
    m.api_call_finished("backstage", "entities", 0.05)
    m.api_call_finished("pagerduty", "oncalls", 2.0, "http_503")
    m.loop_lag(0.004)
    s = samples(m)
    assert (
        at(
            s,
            "callboard_command_duration_seconds_count",
            command="whoowns",
            outcome="ok",
            platform="slack",
        )
        == 2
    )
    assert (
        at(
            s,
            "callboard_command_duration_seconds_bucket",
            command="whoowns",
            le="0.025",
            outcome="ok",
            platform="slack",
        )
        == 1
    )
    assert (
        at(
            s,
            "callboard_dialog_submissions_total",
            dialog="scaffold",
            outcome="invalid",
            platform="slack",
        )
        == 1
    )
    assert at(s, "callboard_sync_duration_seconds_count", outcome="ok", source="demo") == 1
    assert at(s, "callboard_sync_entities", source="demo") == 105
    assert at(s, "callboard_sync_problems", severity="warning", source="demo") == 3
    assert at(s, "callboard_sync_problems", severity="error", source="demo") == 0
    assert at(s, "callboard_sync_last_success_timestamp_seconds", source="demo") == (
        1_700_000_000.0
    )
    # A failed sync counts as a run but leaves the last good figures alone.
    assert at(s, "callboard_sync_duration_seconds_count", outcome="error", source="backstage") == 1
    assert ("callboard_sync_entities", (("source", "backstage"),)) not in s
    assert at(s, "callboard_docs_index_pages") == 40
    assert at(s, "callboard_docs_index_sections") == 300
    assert at(s, "callboard_docs_index_sites") == 4
    assert at(s, "callboard_scheduled_runs_total", schedule="weekly-digest", status="taken") == 1
    assert (
        at(s, "callboard_scheduled_deliveries_total", platform="slack", status="rate-limited") == 1
    )
    assert (
        at(
            s,
            "callboard_api_call_duration_seconds_count",
            api="pagerduty",
            endpoint="oncalls",
            outcome="error",
        )
        == 1
    )
    assert (
        at(
            s,
            "callboard_api_call_errors_total",
            api="pagerduty",
            endpoint="oncalls",
            error="http_503",
        )
        == 1
    )
    assert (
        at(
            s,
            "callboard_api_call_duration_seconds_count",
            api="backstage",
            endpoint="entities",
            outcome="ok",
        )
        == 1
    )
    assert at(s, "callboard_event_loop_lag_seconds_count") == 1


def test_two_apps_count_apart() -> None:
    a, b = Metrics(), Metrics()
    a.delivery("slack", "posted")
    key = ("callboard_scheduled_deliveries_total", (("platform", "slack"), ("status", "posted")))
    assert samples(a)[key] == 1
    assert key not in samples(b)


def test_a_counted_block_records_its_exception_and_lets_it_through() -> None:
    m = Metrics()
    with counted(m, "backstage", "entities"):
        pass
    with pytest.raises(TimeoutError), counted(m, "backstage", "entities"):
        raise TimeoutError
    with pytest.raises(ProviderError), counted(m, "opsgenie", "alerts"):
        raise ProviderError("HTTP 422: bad alert", "http_422")  # a client's own error word
    with counted(None, "opsgenie", "alerts"):  # metrics off: nothing to count in
        pass
    s = samples(m)
    ok = (
        "callboard_api_call_duration_seconds_count",
        (("api", "backstage"), ("endpoint", "entities"), ("outcome", "ok")),
    )
    assert s[ok] == 1
    errors = "callboard_api_call_errors_total"
    assert at(s, errors, api="backstage", endpoint="entities", error="TimeoutError") == 1
    assert at(s, errors, api="opsgenie", endpoint="alerts", error="http_422") == 1


def test_the_metrics_section(tmp_path: Path) -> None:
    path = tmp_path / "callboard.yaml"
    path.write_text("catalog: {}\n")
    assert load_settings(path).section("metrics", MetricsSettings) == MetricsSettings()
    path.write_text(
        textwrap.dedent("""
        metrics:
          port: 9464
          host: 0.0.0.0
        """)
    )
    assert load_settings(path).section("metrics", MetricsSettings) == MetricsSettings(
        True, "0.0.0.0", 9464
    )
    path.write_text("metrics:\n  port: 70000\n")
    with pytest.raises(ConfigError, match=r"metrics\.port must be at most 65535"):
        load_settings(path)
    path.write_text("metrics:\n  path: /m\n")
    with pytest.raises(ConfigError, match=r"unknown key metrics\.path"):
        load_settings(path)


async def test_the_standalone_port_serves_health_readiness_and_metrics(
    make_app: AppFactory,
) -> None:
    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}])
    assert app.services.metrics is not None
    app.services.metrics.delivery("discord", "failed")
    server = await OpsServer(app).start("127.0.0.1", 0)  # 0: any free port
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == CONTENT_TYPE
                body = await resp.text()
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["ok"] is True
            async with http.get(f"{base}/readyz") as resp:
                assert (resp.status, await resp.json()) == (200, {"ready": True, "reasons": []})
            app.stopping = True  # as App.stop sets it on SIGTERM
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["reasons"] == ["shutting down"]
        line = 'callboard_scheduled_deliveries_total{platform="discord",status="failed"} 1.0'
        assert line in body
    finally:
        await server.close()


async def test_the_standalone_port_without_metrics_still_answers_health(
    make_app: AppFactory,
) -> None:
    app = make_app(sources=[], metrics={"enabled": False, "port": 9464})
    server = await OpsServer(app).start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{server.port}/metrics") as resp:
                assert resp.status == 404  # metrics are off: nothing recorded, nothing served
            async with http.get(f"http://127.0.0.1:{server.port}/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["reasons"] == [
                    "no catalog source has synced successfully yet"
                ]
    finally:
        await server.close()


async def test_the_aiohttp_route_answers_a_scrape() -> None:
    m = Metrics()
    m.command_answered("help", "slack", "ok", 0.01)
    app = web.Application()
    add_metrics_route(app, m)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            body = await resp.text()
        families = {f.name for f in text_string_to_metric_families(body)}
        assert "callboard_command_duration_seconds" in families
    finally:
        await runner.cleanup()


async def test_the_loop_lag_sampler_records_while_it_runs() -> None:
    m = Metrics()
    task = asyncio.create_task(sample_loop_lag(m, interval=0.01))
    key = ("callboard_event_loop_lag_seconds_count", ())
    async with asyncio.timeout(30):  # a hang guard, not a timing
        while samples(m).get(key, 0) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

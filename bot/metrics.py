"""Prometheus metrics: every family defined once, behind a small typed facade.

The core records what happened through ``Metrics`` methods (``command_answered``,
``sync_finished``, ...) and never imports ``prometheus_client`` itself. Each ``Metrics`` owns a
registry of its own (no process-wide default registry), so two apps in one process, or two
tests, count apart. The text exposition is served at ``/metrics`` by the Slack HTTP server
and, when no Slack HTTP server runs (Discord only, the scheduler alone, Socket Mode), on a port
of its own with ``/healthz`` and ``/readyz`` beside it: the same routes, ``adapters.metrics_http``
(``OpsServer``, started by ``callboard run``), configured by the ``metrics`` section:

```yaml
metrics:
  enabled: true       # default; false: nothing is recorded or served at /metrics
  port: 9464          # the standalone port; left out: only the Slack HTTP server's routes
  host: 0.0.0.0       # where that port listens (default 127.0.0.1)
```

Labels take bounded values only: command names from the registry (``unknown`` for anything
else), configured source and schedule ids, platform names, and the fixed outcome words below.

| family | type | labels |
| --- | --- | --- |
| ``callboard_command_duration_seconds`` | histogram | command, platform, outcome |
| ``callboard_dialog_submissions_total`` | counter | dialog, platform, outcome |
| ``callboard_sync_duration_seconds`` | histogram | source, outcome |
| ``callboard_sync_entities`` | gauge | source |
| ``callboard_sync_problems`` | gauge | source, severity |
| ``callboard_sync_last_success_timestamp_seconds`` | gauge | source |
| ``callboard_docs_index_pages`` / ``_sections`` / ``_sites`` | gauge | |
| ``callboard_scheduled_runs_total`` | counter | schedule, status |
| ``callboard_scheduled_deliveries_total`` | counter | platform, status |
| ``callboard_api_call_duration_seconds`` | histogram | api, endpoint, outcome |
| ``callboard_api_call_errors_total`` | counter | api, endpoint, error |
| ``callboard_event_loop_lag_seconds`` | histogram | |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.apicalls import ApiName
from bot.metrics_settings import MetricsSettings, parse_metrics

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsSettings", "parse_metrics"]

CommandOutcome = Literal["ok", "user_error", "not_found", "denied", "error"]
DialogOutcome = Literal["ok", "invalid", "user_error", "error"]
SyncOutcome = Literal["ok", "error", "skipped"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN_COMMAND = "unknown"

# Chat answers take milliseconds to a few seconds; a sync takes up to minutes.
_COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SYNC_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_API_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The metric families of one app, with one method per thing worth counting."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._commands = Histogram(
            "callboard_command_duration_seconds",
            "Commands answered, by command, platform and outcome, and how long each took.",
            ("command", "platform", "outcome"),
            buckets=_COMMAND_BUCKETS,
            registry=r,
        )
        self._dialogs = Counter(
            "callboard_dialog_submissions",
            "Dialog (modal) submissions, by dialog, platform and outcome.",
            ("dialog", "platform", "outcome"),
            registry=r,
        )
        self._sync_duration = Histogram(
            "callboard_sync_duration_seconds",
            "Catalog sync runs per source, by outcome, and how long each took.",
            ("source", "outcome"),
            buckets=_SYNC_BUCKETS,
            registry=r,
        )
        self._sync_entities = Gauge(
            "callboard_sync_entities",
            "Entities a source held after its last successful sync.",
            ("source",),
            registry=r,
        )
        self._sync_problems = Gauge(
            "callboard_sync_problems",
            "Problems a source's last sync found, by severity.",
            ("source", "severity"),
            registry=r,
        )
        self._sync_last_success = Gauge(
            "callboard_sync_last_success_timestamp_seconds",
            "When a source last synced successfully (Unix time).",
            ("source",),
            registry=r,
        )
        self._docs_pages = Gauge(
            "callboard_docs_index_pages", "Pages in the docs index.", registry=r
        )
        self._docs_sections = Gauge(
            "callboard_docs_index_sections", "Sections in the docs index.", registry=r
        )
        self._docs_sites = Gauge(
            "callboard_docs_index_sites", "Docs sites in the docs index.", registry=r
        )
        self._scheduled_runs = Counter(
            "callboard_scheduled_runs",
            "Scheduled report runs, by schedule and status "
            "(posted, partial, failed, nothing, missed, taken).",
            ("schedule", "status"),
            registry=r,
        )
        self._deliveries = Counter(
            "callboard_scheduled_deliveries",
            "Scheduled report deliveries, by platform and status (posted, skipped, failed, "
            "channel-not-found, rate-limited, no-poster).",
            ("platform", "status"),
            registry=r,
        )
        self._api_duration = Histogram(
            "callboard_api_call_duration_seconds",
            "Requests to outside APIs (backstage, pagerduty, opsgenie), by the kind of request "
            "(endpoint) and outcome, and how long each took.",
            ("api", "endpoint", "outcome"),
            buckets=_API_BUCKETS,
            registry=r,
        )
        self._api_errors = Counter(
            "callboard_api_call_errors",
            "Failed requests to outside APIs, by the kind of request and of error "
            "(http_<status>, timeout, connection, invalid_response, too_large).",
            ("api", "endpoint", "error"),
            registry=r,
        )
        self._loop_lag = Histogram(
            "callboard_event_loop_lag_seconds",
            "How late the event loop ran a timer it was asked to run (blocking work shows here).",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

    # --- chat ---

    def command_answered(
        self, command: str, platform: str, outcome: CommandOutcome, seconds: float
    ) -> None:
        """One command answered; ``command`` is a registry name or ``UNKNOWN_COMMAND``."""
        self._commands.labels(command, platform, outcome).observe(max(0.0, seconds))

    def dialog_submitted(self, dialog: str, platform: str, outcome: DialogOutcome) -> None:
        self._dialogs.labels(dialog, platform, outcome).inc()

    # --- catalog and docs ---

    def sync_finished(
        self,
        source: str,
        outcome: SyncOutcome,
        seconds: float,
        *,
        entities: int | None = None,
        problems: Mapping[str, int] | None = None,
        finished_at: float | None = None,
    ) -> None:
        """One sync run of ``source``; on success its entity and problem counts, and the time."""
        self._sync_duration.labels(source, outcome).observe(max(0.0, seconds))
        if outcome != "ok":
            return
        if entities is not None:
            self._sync_entities.labels(source).set(entities)
        if problems is not None:
            for severity in sorted({"error", "warning", *problems}):
                self._sync_problems.labels(source, severity).set(problems.get(severity, 0))
        self._sync_last_success.labels(source).set(
            time.time() if finished_at is None else finished_at
        )

    def docs_index_size(self, *, sites: int, pages: int, sections: int) -> None:
        self._docs_sites.set(sites)
        self._docs_pages.set(pages)
        self._docs_sections.set(sections)

    # --- scheduled reports ---

    def scheduled_run(self, schedule: str, status: str) -> None:
        """One firing of a schedule, with ``RunOutcome.status`` (``bot.scheduler``): ``taken``
        is a run skipped because another replica claimed it."""
        self._scheduled_runs.labels(schedule, status).inc()

    def delivery(self, platform: str, status: str) -> None:
        """One delivery of a run, with ``Delivery.status`` (``bot.reports.delivery``)."""
        self._deliveries.labels(platform, status).inc()

    # --- outside APIs ---

    def api_call_finished(
        self, api: ApiName, endpoint: str, seconds: float, error: str | None = None
    ) -> None:
        """One request to ``api`` (``bot.apicalls``: time it with ``counted``); ``error`` names
        the failure (``http_503``, ``timeout``...), None for a success."""
        outcome = "ok" if error is None else "error"
        self._api_duration.labels(api, endpoint, outcome).observe(max(0.0, seconds))
        if error is not None:
            self._api_errors.labels(api, endpoint, error).inc()

    # --- the process ---

    def loop_lag(self, seconds: float) -> None:
        self._loop_lag.observe(max(0.0, seconds))

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format (serve it with ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


async def sample_loop_lag(metrics: Metrics, interval: float = 0.5) -> None:
    """Until cancelled: sleep ``interval`` and record how much later than asked the loop woke."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        metrics.loop_lag(loop.time() - start - interval)


def start_loop_lag_sampler(metrics: Metrics, interval: float = 0.5) -> asyncio.Task[None]:
    """``sample_loop_lag`` as a task of the running loop (cancel it at shutdown)."""
    return asyncio.get_running_loop().create_task(
        sample_loop_lag(metrics, interval), name="callboard-loop-lag"
    )

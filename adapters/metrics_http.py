"""The operator's HTTP routes, ``/healthz``, ``/readyz`` and ``/metrics``, for any aiohttp server.

The Slack HTTP app mounts them beside ``/slack/events``; when no Slack HTTP server runs
(Discord alone, the scheduler alone, Slack in Socket Mode) ``callboard run`` serves the same
routes on a port of their own, ``metrics.port`` (``OpsServer``):

```python
add_ops_routes(web_app, app)                          # when the aiohttp Application is built
server = await OpsServer(app).start("0.0.0.0", 9464)  # or on a port of their own
```

- ``GET /healthz``: 200 while the process answers (``{"ok": true, "entities": N}``).
- ``GET /readyz``: 200 ``{"ready": true, "reasons": []}``, or 503 with why not
  (``App.not_ready``: the database, a first sync, shutting down, each chat platform's own
  reasons such as ``discord: not connected``, and ``extra``, the server's own).
- ``GET /metrics``: Prometheus's text exposition of the app's metrics (when they are on).

Everything blocking (the database, collecting the registry) runs in a worker thread: the event
loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.app import App
from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

Reasons = Callable[[], list[str]]


def metrics_handler(metrics: Metrics) -> Handler:
    """An aiohttp handler answering Prometheus's scrape with ``metrics``' text exposition."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle


def add_metrics_route(app: web.Application, metrics: Metrics, path: str = METRICS_PATH) -> None:
    """Mount ``GET path`` (default ``/metrics``) on ``app``."""
    app.router.add_get(path, metrics_handler(metrics))


async def readiness(app: App, extra: Reasons | None = None) -> list[str]:
    """``App.not_ready`` (in a worker thread), then the reasons of ``extra`` it did not give."""
    reasons = await asyncio.to_thread(app.not_ready)
    if extra is not None:
        reasons.extend(r for r in extra() if r not in reasons)
    return reasons


def add_ops_routes(web_app: web.Application, app: App, extra: Reasons | None = None) -> None:
    """Mount ``/healthz``, ``/readyz`` and (metrics on) ``/metrics`` for ``app`` on ``web_app``;
    ``extra`` adds the serving adapter's own readiness reasons."""

    async def health(_: web.Request) -> web.Response:
        entities = await asyncio.to_thread(app.services.reader.count)
        return web.json_response({"ok": True, "entities": entities})

    async def ready(_: web.Request) -> web.Response:
        reasons = await readiness(app, extra)
        if reasons:
            return web.json_response({"ready": False, "reasons": reasons}, status=503)
        return web.json_response({"ready": True, "reasons": []})

    web_app.add_routes([web.get(HEALTH_PATH, health), web.get(READY_PATH, ready)])
    if app.services.metrics is not None:
        add_metrics_route(web_app, app.services.metrics)


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a port of their own (``metrics.port``)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> OpsServer:
        """Listen on ``host:port`` (``port=0`` picks a free one, then in ``self.port``)."""
        web_app = web.Application()
        add_ops_routes(web_app, self.app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info(
            "health and metrics at http://%s:%d (/healthz, /readyz, /metrics)", host, self.port
        )
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

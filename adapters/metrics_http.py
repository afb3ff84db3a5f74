"""``GET /metrics`` for an aiohttp server: the Slack HTTP app mounts it beside ``/healthz``.

```python
add_metrics_route(web_app, metrics)   # when the aiohttp Application is built
```

The exposition is rendered off the event loop (a thread): collecting every family walks the
registry under its locks, and the loop never waits on that.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.metrics import CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"


def metrics_handler(metrics: Metrics) -> Handler:
    """An aiohttp handler answering Prometheus's scrape with ``metrics``' text exposition."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle


def add_metrics_route(app: web.Application, metrics: Metrics, path: str = METRICS_PATH) -> None:
    """Mount ``GET path`` (default ``/metrics``) on ``app``."""
    app.router.add_get(path, metrics_handler(metrics))

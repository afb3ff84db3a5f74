"""The ``metrics`` config section (apart from ``bot.metrics``, so loading the config does not
import prometheus_client: ``callboard ask`` starts without it)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Section


@dataclass(frozen=True)
class MetricsSettings:
    """Whether metrics are kept, and the standalone port (None: only the Slack HTTP server's
    routes). That port serves ``/healthz`` and ``/readyz`` too, and ``/metrics`` when
    ``enabled`` (``adapters.metrics_http.OpsServer``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int | None = None


def parse_metrics(sec: Section) -> MetricsSettings:
    """Read the ``metrics`` section (on, no standalone port, when it is absent)."""
    enabled = sec.bool("enabled", True)
    host = sec.str("host", MetricsSettings.host) or MetricsSettings.host
    port: int | None = None
    if sec.raw("port") is not None:
        port = sec.int("port", 0, minimum=1)
        if port > 65535:
            raise sec.error("port", f"must be at most 65535, found {port}")
    return MetricsSettings(enabled=enabled, host=host, port=port)

"""Counting the calls Callboard makes to outside APIs: Backstage's catalog, PagerDuty, Opsgenie.

A client times each request with ``counted`` and hands it to an ``ApiCalls`` (the app's
``bot.metrics.Metrics``, or None when metrics are off). Nothing here imports the metrics
library, so the clients stay importable without it.

Labels stay bounded: ``api`` is one of ``API_NAMES``; ``endpoint`` is a fixed word per kind of
request a client makes (``entities``, ``oncalls``, ``alerts``...), never a path with ids in it;
an error is ``http_<status>``, ``timeout``, ``connection``, ``invalid_response``,
``too_large`` or, for anything else, the exception's class name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Literal, Protocol

ApiName = Literal["backstage", "pagerduty", "opsgenie"]
API_NAMES: tuple[ApiName, ...] = ("backstage", "pagerduty", "opsgenie")

TIMEOUT = "timeout"
CONNECTION = "connection"
INVALID_RESPONSE = "invalid_response"
TOO_LARGE = "too_large"


class ApiCalls(Protocol):
    """Where finished calls are counted (``bot.metrics.Metrics`` is one)."""

    def api_call_finished(
        self, api: ApiName, endpoint: str, seconds: float, error: str | None = None
    ) -> None: ...


def http_error(status: int) -> str:
    """The error word for an HTTP status (``http_503``)."""
    return f"http_{status}"


def error_kind(exc: BaseException) -> str:
    """The error word of a failed call: the exception's ``kind`` when it names one (the clients'
    own errors do), else its class name."""
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) and kind else type(exc).__name__


@contextlib.contextmanager
def counted(calls: ApiCalls | None, api: ApiName, endpoint: str) -> Iterator[None]:
    """Time the ``with`` block as one call to ``api``'s ``endpoint``; an exception leaving it is
    the call's error (``error_kind``) and goes on. Nothing is counted when ``calls`` is None."""
    if calls is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        calls.api_call_finished(api, endpoint, time.perf_counter() - start, error_kind(exc))
        raise
    calls.api_call_finished(api, endpoint, time.perf_counter() - start)

"""The on-call directory: each provider behind a cache, a time budget and Retry-After.

``lookup`` never raises and never takes longer than the budget: a late answer is returned as
an error line ("PagerDuty did not answer within 1.5 s", marked ``late``) while the lookup goes
on in its thread, fills the cache for the next ask, and is what ``finish`` awaits (so a card
sent without the line can be updated when it comes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Protocol

from bot.apicalls import ApiCalls
from bot.oncall.model import (
    OPSGENIE,
    PAGERDUTY,
    OnCallAnswer,
    OnCallTarget,
    ProviderError,
    RateLimited,
    ScheduleGaps,
    uncovered,
)
from bot.oncall.providers import Coverage, OpsgenieProvider, PagerDutyProvider
from bot.oncall.settings import OPSGENIE_API_KEY, PAGERDUTY_TOKEN, OnCallSettings

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000  # targets whose latest answer ``finish`` can give


class Provider(Protocol):
    name: str

    def lookup(
        self, target: OnCallTarget, now: dt.datetime, deadline: Callable[[], float]
    ) -> OnCallAnswer: ...

    def coverage(
        self,
        target: OnCallTarget,
        since: dt.datetime,
        until: dt.datetime,
        deadline: Callable[[], float],
    ) -> Coverage: ...


class ProviderDirectory:
    """``bot.ports.OnCallDirectory`` over the configured providers."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        cache_seconds: float = 60,
        budget_seconds: float = 1.5,
        request_timeout: float = 10.0,
        executor: Executor | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers = dict(providers)
        self.cache_seconds = cache_seconds
        self.budget_seconds = budget_seconds
        self.request_timeout = request_timeout
        self._executor = executor
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, OnCallAnswer]] = {}
        self._blocked: dict[str, float] = {}  # provider → monotonic time its Retry-After ends
        self._running: dict[str, asyncio.Future[OnCallAnswer]] = {}
        self._started: dict[str, float] = {}  # monotonic time each running lookup started
        self._last: dict[str, OnCallAnswer] = {}  # each target's latest finished lookup

    def providers(self) -> tuple[str, ...]:
        return tuple(self._providers)

    async def lookup(self, target: OnCallTarget) -> OnCallAnswer:
        provider = self._providers.get(target.provider)
        if provider is None:
            return OnCallAnswer(
                target, error=f"{target.provider} is not configured (no API token set)"
            )
        now = self._monotonic()
        cached = self._cache.get(target.key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        blocked = self._blocked.get(target.provider, 0.0)
        if blocked > now:
            return OnCallAnswer(
                target,
                error=f"{target.provider} asked us to wait (rate limited) for "
                f"{blocked - now:.0f} s more",
            )
        running = self._running.get(target.key)
        if running is None:
            running = asyncio.ensure_future(self._fetch(provider, target))
            self._running[target.key] = running
            self._started[target.key] = now
            running.add_done_callback(lambda _f: self._forget_running(target.key))
        # The budget counts from when the lookup started: asking again while it runs does not
        # extend it (a lookup already past it is not waited for: the card goes now).
        left = self.budget_seconds - (now - self._started.get(target.key, now))
        try:
            return await asyncio.wait_for(asyncio.shield(running), max(0.0, left))
        except TimeoutError:
            return OnCallAnswer(
                target,
                error=f"{target.provider} did not answer within {self.budget_seconds:g} s",
                late=True,
            )

    async def gaps(
        self, target: OnCallTarget, since: dt.datetime, until: dt.datetime
    ) -> ScheduleGaps:
        """When nobody is on call at the target's first level between ``since`` and
        ``until``; never raises (a provider that fails or is rate limiting is the ``error``;
        each request is bounded by the request timeout)."""
        provider = self._providers.get(target.provider)
        if provider is None:
            return ScheduleGaps(target, error=f"{target.provider} is not configured")
        if self._blocked.get(target.provider, 0.0) > self._monotonic():
            return ScheduleGaps(target, error=f"{target.provider} asked us to wait (rate limited)")
        start = self._monotonic()

        def deadline() -> float:
            return max(0.1, self.request_timeout - (self._monotonic() - start))

        def uncovered_spans() -> tuple[tuple[str, dt.datetime, dt.datetime], ...]:
            covered = provider.coverage(target, since, until, deadline)  # parsing and sorting
            return tuple(  # up to thousands of periods: in the worker thread too
                (shown, a, b) for shown, spans in covered for a, b in uncovered(spans, since, until)
            )

        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(self._executor, uncovered_spans)
        except RateLimited as e:
            self._blocked[target.provider] = self._monotonic() + e.retry_after
            return ScheduleGaps(target, error=f"{target.provider} is rate limiting us: {e}")
        except ProviderError as e:
            return ScheduleGaps(target, error=f"{target.provider} did not answer: {e}")
        except Exception as e:  # a provider bug must not break the report it is part of
            log.exception("on-call schedule check of %s failed", target.key)
            return ScheduleGaps(target, error=f"{target.provider} did not answer: {e}")
        return ScheduleGaps(target, found)

    def _forget_running(self, key: str) -> None:
        self._running.pop(key, None)
        self._started.pop(key, None)

    async def finish(self, target: OnCallTarget) -> OnCallAnswer:
        """The answer of a lookup that ran late, once it is in (bounded by the request timeout,
        never raises): the lookup still running, else the one that finished meanwhile."""
        running = self._running.get(target.key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except Exception as e:  # _fetch answers every failure; this is a bug, said once
                log.exception("on-call lookup of %s failed", target.key)
                return OnCallAnswer(target, error=f"{target.provider} did not answer: {e}")
        last = self._last.get(target.key)
        return last if last is not None else await self.lookup(target)

    async def _fetch(self, provider: Provider, target: OnCallTarget) -> OnCallAnswer:
        answer = await self._fetch_once(provider, target)
        if len(self._last) >= MAX_REMEMBERED:
            self._last.clear()
        self._last[target.key] = answer
        return answer

    async def _fetch_once(self, provider: Provider, target: OnCallTarget) -> OnCallAnswer:
        loop = asyncio.get_running_loop()
        start = self._monotonic()
        budget = self.budget_seconds

        def deadline() -> float:
            # Past the budget the asker has their answer without this one; the lookup may go on
            # (up to ``request_timeout`` in all) to fill the cache for the next ask.
            return max(0.1, self.request_timeout - (self._monotonic() - start))

        for attempt in range(2):
            try:
                answer = await loop.run_in_executor(
                    self._executor, provider.lookup, target, self._clock(), deadline
                )
            except RateLimited as e:
                left = budget - (self._monotonic() - start)
                if attempt == 0 and e.retry_after < left:
                    await asyncio.sleep(e.retry_after)
                    continue
                self._blocked[target.provider] = self._monotonic() + e.retry_after
                return OnCallAnswer(
                    target,
                    error=f"{target.provider} is rate limiting us; retry after {e.retry_after:g} s",
                )
            except ProviderError as e:
                return OnCallAnswer(target, error=f"{target.provider} did not answer: {e}")
            except Exception as e:  # a provider bug must not break the card it is part of
                log.exception("on-call lookup of %s failed", target.key)
                return OnCallAnswer(target, error=f"{target.provider} did not answer: {e}")
            self._cache[target.key] = (self._monotonic(), answer)
            return answer
        raise AssertionError("unreachable")


def build_directory(
    settings: OnCallSettings,
    environ: Mapping[str, str],
    executor: Executor | None = None,
    calls: ApiCalls | None = None,
) -> ProviderDirectory:
    """The directory of the providers whose token is in ``environ``; their requests are
    counted in ``calls`` (the app's metrics)."""
    providers: dict[str, Provider] = {}
    if environ.get(PAGERDUTY_TOKEN):
        providers[PAGERDUTY] = PagerDutyProvider(
            settings.pagerduty_url, environ[PAGERDUTY_TOKEN], calls
        )
    if environ.get(OPSGENIE_API_KEY):
        providers[OPSGENIE] = OpsgenieProvider(
            settings.opsgenie_url, environ[OPSGENIE_API_KEY], calls
        )
    return ProviderDirectory(
        providers,
        cache_seconds=settings.cache_seconds,
        budget_seconds=settings.budget_ms / 1000,
        executor=executor,
    )

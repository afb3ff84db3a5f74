"""Posting reports through ``App.posters``: pacing, rate-limit retries, and channel faults.

What this layer does with each outcome of ``Poster.post``:

* returns normally: posted (and a fault recorded earlier for that channel is cleared);
* ``RateLimited``: the poster's own retries are spent and nothing was posted, so wait
  (``Retry-After``, else ``backoff_ms`` doubling) and try again, ``retries`` times at most;
* ``ChannelNotFound``: recorded as a channel fault, reported once to the platform channel;
* anything else: recorded as failed and never retried, since part of a reply may be out
  already (a digest's first message, say) and a post must never happen twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.chat import Reply
from bot.errors import BotError, ChannelNotFound, DeliveryError, RateLimited
from bot.reports.settings import ReportsSettings
from bot.services import Poster

if TYPE_CHECKING:
    from bot.ports import Poster

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

POSTED = "posted"
SKIPPED = "skipped"  # nothing to report, and the schedule says post nothing then
NOT_FOUND = "channel-not-found"
RATE_LIMITED = "rate-limited"
FAILED = "failed"
NO_POSTER = "no-poster"

MAX_WAIT_S = 300.0  # a platform asking for a longer pause gets the run recorded as rate-limited


@dataclass(frozen=True)
class Delivery:
    """What happened to one report for one channel."""

    platform: str
    channel: str
    scope: str
    status: str
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status in (POSTED, SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "platform": self.platform,
            "channel": self.channel,
            "scope": self.scope,
            "status": self.status,
            "attempts": self.attempts,
        }
        if self.error:
            out["error"] = self.error
        return out


class Deliverer:
    """Posts replies one at a time, pacing each platform and retrying rate limits."""

    def __init__(
        self,
        posters: Mapping[str, Poster],
        settings: ReportsSettings,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.posters = posters
        self.settings = settings
        self.sleep = sleep
        self._posted_on: set[str] = set()

    async def post(self, platform: str, channel: str, scope: str, reply: Reply) -> Delivery:
        poster = self.posters.get(platform)
        if poster is None:
            return Delivery(
                platform,
                channel,
                scope,
                NO_POSTER,
                f"no {platform} poster is running (is the {platform} section configured and "
                "its token in the environment?)",
            )
        attempts = 0
        while True:
            if platform in self._posted_on and self.settings.pace_ms:
                await self.sleep(self.settings.pace_ms / 1000)
            self._posted_on.add(platform)
            attempts += 1
            try:
                await poster.post(channel, reply)
            except RateLimited as exc:
                wait = self.settings.backoff_ms / 1000 * 2 ** (attempts - 1)
                if exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                if attempts > self.settings.retries or wait > MAX_WAIT_S:
                    log.warning(
                        "giving up on %s:%s after %d tries: %s", platform, channel, attempts, exc
                    )
                    return Delivery(platform, channel, scope, RATE_LIMITED, str(exc), attempts)
                log.info("%s:%s rate-limited; retrying in %.1f s", platform, channel, wait)
                await self.sleep(wait)
                continue
            except ChannelNotFound as exc:
                return Delivery(platform, channel, scope, NOT_FOUND, str(exc), attempts)
            except DeliveryError as exc:
                return Delivery(platform, channel, scope, FAILED, str(exc), attempts)
            except BotError as exc:
                return Delivery(platform, channel, scope, FAILED, str(exc), attempts)
            except Exception as exc:
                log.exception("posting to %s:%s failed", platform, channel)
                return Delivery(
                    platform, channel, scope, FAILED, f"{type(exc).__name__}: {exc}", attempts
                )
            return Delivery(platform, channel, scope, POSTED, None, attempts)

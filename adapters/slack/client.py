"""The Web API client: ``slack.api_url`` as its base, and 429s retried after ``Retry-After``."""

from __future__ import annotations

import asyncio
import random

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms import SlackSettings

MAX_RETRY_AFTER = 60.0  # longer than this, the message is better reported as failed
TIMEOUT = 15


def retry_after(response: HttpResponse) -> float | None:
    for key, values in response.headers.items():
        if key.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return None
    return None


class RateLimitRetry(AsyncRetryHandler):
    """On HTTP 429 wait as long as ``Retry-After`` says (plus up to 10% jitter), then retry.

    slack_sdk's own handler adds up to a whole second to every wait; digests posted to many
    channels pace better on Slack's number.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response)
        return wait is None or wait <= MAX_RETRY_AFTER

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = retry_after(response) if response is not None else None
        wait = 1.0 if wait is None else wait
        await asyncio.sleep(wait + wait * 0.1 * random.random())
        state.increment_current_attempt()


def make_client(
    settings: SlackSettings, token: str | None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A client on ``slack.api_url`` (a proxy or a test server can stand in for Slack)."""
    return AsyncWebClient(
        token=token,
        base_url=settings.api_url,
        session=session,
        timeout=TIMEOUT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            RateLimitRetry(max_retry_count=settings.rate_limit_retries),
        ],
    )

"""``post(channel, reply)`` for scheduled reports: one message, or a parent and a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.users import PLATFORM
from bot.chat import Reply
from bot.errors import ChannelNotFound, DeliveryError, RateLimited

# A channel as configured ("C0123", or "T0123/C0123" with several workspaces) → the client
# holding that workspace's token, and the channel id.
ChannelResolver = Callable[[str], Awaitable[tuple[AsyncWebClient, str]]]


NOT_FOUND = {
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "channel_is_archived",
    "restricted_action",
    "team_access_not_granted",
}


class SlackPoster:
    """Posts replies into channels; a long reply becomes a short parent and a thread.

    Failures are Callboard's ``DeliveryError`` family: ``ChannelNotFound`` (the channel is
    gone or closed to the bot), ``RateLimited`` (still 429 after the client's retries, and
    nothing was posted), else ``DeliveryError``.
    """

    platform = PLATFORM

    def __init__(self, resolve: ChannelResolver) -> None:
        self.resolve = resolve

    async def post(self, channel: str, reply: Reply) -> None:
        client, channel_id = await self.resolve(channel)
        parent, thread = render.render_thread(reply)
        posted = 0
        try:
            response = await client.chat_postMessage(
                channel=channel_id, unfurl_links=False, unfurl_media=False, **parent
            )
            posted += 1
            ts = response.get("ts")
            for message in thread:
                await client.chat_postMessage(
                    channel=channel_id,
                    thread_ts=ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    **message,
                )
                posted += 1
        except SlackApiError as exc:
            raise _delivery_error(exc, channel, posted, 1 + len(thread)) from exc
        except SlackClientError as exc:
            raise DeliveryError(f"cannot post to Slack channel {channel}: {exc}", channel) from exc


def _delivery_error(exc: SlackApiError, channel: str, posted: int, total: int) -> DeliveryError:
    error = str(exc.response.get("error") or exc.response.status_code)
    done = f" after {posted} of {total} messages" if posted else ""
    message = f"Slack refused the post to {channel}{done}: {error}"
    if error in NOT_FOUND:
        return ChannelNotFound(message, channel)
    if exc.response.status_code == 429 and not posted:
        header = exc.response.headers.get("retry-after") or exc.response.headers.get("Retry-After")
        try:
            retry_after = float(header) if header is not None else None
        except ValueError:
            retry_after = None
        return RateLimited(message, channel, retry_after)
    return DeliveryError(message, channel)


def single_workspace(client: AsyncWebClient) -> ChannelResolver:
    async def resolve(channel: str) -> tuple[AsyncWebClient, str]:
        return client, channel

    return resolve

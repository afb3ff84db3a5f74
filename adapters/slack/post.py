"""``post(channel, reply)`` for scheduled reports: one message, or a parent and a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.users import PLATFORM
from bot.chat import Reply
from bot.errors import BotError

# A channel as configured ("C0123", or "T0123/C0123" with several workspaces) → the client
# holding that workspace's token, and the channel id.
ChannelResolver = Callable[[str], Awaitable[tuple[AsyncWebClient, str]]]


class PostError(BotError):
    """Slack refused a scheduled post; the message names the channel and Slack's error."""


class SlackPoster:
    """Posts replies into channels; a long reply becomes a short parent and a thread."""

    platform = PLATFORM

    def __init__(self, resolve: ChannelResolver) -> None:
        self.resolve = resolve

    async def post(self, channel: str, reply: Reply) -> None:
        client, channel_id = await self.resolve(channel)
        parent, thread = render.render_thread(reply)
        try:
            response = await client.chat_postMessage(
                channel=channel_id, unfurl_links=False, unfurl_media=False, **parent
            )
            ts = response.get("ts")
            for message in thread:
                await client.chat_postMessage(
                    channel=channel_id,
                    thread_ts=ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    **message,
                )
        except SlackApiError as exc:
            error = exc.response.get("error") or exc.response.status_code
            raise PostError(f"Slack refused the post to {channel}: {error}") from exc
        except SlackClientError as exc:
            raise PostError(f"cannot post to Slack channel {channel}: {exc}") from exc


def single_workspace(client: AsyncWebClient) -> ChannelResolver:
    async def resolve(channel: str) -> tuple[AsyncWebClient, str]:
        return client, channel

    return resolve

"""``Progress`` on Slack: a long-running command's steps in one message, updated in place.

Nothing is shown while the answer may still come with the acknowledgement: steps are held
until the adapter ``arm``s the progress (the ack went out empty), then the latest step shows.

- A slash command: an ephemeral message through its ``response_url``, replaced at each step
  (for a slash command, ``replace_original`` replaces what that URL posted last). Slack allows
  5 posts per ``response_url``: at most ``RESPONSE_URL_STEPS`` go to steps, the rest to the
  answer, which replaces the step message.
- Everything else (a button, a submitted form, a mention): a message posted with
  ``chat.postMessage`` (in the user's DM with the app, or the mention's thread) and edited with
  ``chat.update``. The answer takes its place when it belongs there (a private answer, a
  thread reply); otherwise it goes where it always goes and the step message says "done".
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import render
from adapters.slack.render import Message
from bot.chat import Reply

log = logging.getLogger(__name__)

RESPONSE_URL_STEPS = 2


def step_message(text: str) -> Message:
    return render.render_reply(Reply(notes=(f"⏳ {text}",)))[0]


def done_message(reply: Reply) -> Message:
    summary = reply.title or reply.text or "finished"
    mark = "⚠️" if reply.error else "✅"
    return render.render_reply(Reply(notes=(f"{mark} {render.plain(summary)}",)))[0]


class SlackProgress:
    """Implements ``bot.chat.Progress`` for one request; ``update`` never raises."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        response_url: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        armed: bool = False,
    ) -> None:
        self.client = client
        self.response_url = response_url
        self.channel = channel  # without a response_url: where the step message goes
        self.thread_ts = thread_ts
        self.armed = armed
        self.posts = 0  # response_url posts spent on steps
        self.ts: str | None = None  # the step message, once posted with chat.postMessage
        self._pending: str | None = None
        self._lock = asyncio.Lock()

    @property
    def shown(self) -> bool:
        return self.posts > 0 or self.ts is not None

    async def update(self, text: str) -> None:
        self._pending = text
        if self.armed:
            await self._flush()

    async def arm(self) -> None:
        """The ack has gone: show the latest step now, and every later one."""
        self.armed = True
        await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            text, self._pending = self._pending, None
            if text is None:
                return
            try:
                await self._show(step_message(text))
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("slack: a progress step could not be shown: %s", exc)

    async def _show(self, message: Message) -> None:
        if self.response_url:
            if self.posts >= RESPONSE_URL_STEPS:
                return
            payload = {**message, "response_type": "ephemeral", "replace_original": self.posts > 0}
            await AsyncWebhookClient(self.response_url).send_dict(payload)
            self.posts += 1
        elif self.channel:
            if self.ts is None:
                extra: dict[str, Any] = {"thread_ts": self.thread_ts} if self.thread_ts else {}
                response = await self.client.chat_postMessage(
                    channel=self.channel, **message, **extra
                )
                self.channel = str(response.get("channel") or self.channel)
                self.ts = response.get("ts")
            else:
                await self.client.chat_update(channel=self.channel, ts=self.ts, **message)

    async def replace(self, message: Message) -> bool:
        """Show ``message`` in place of the step message (``chat.update``); False if none."""
        if self.ts is None or self.channel is None:
            return False
        async with self._lock:
            self._pending = None
            self.armed = False  # a step arriving now must not overwrite the answer
            await self.client.chat_update(channel=self.channel, ts=self.ts, **message)
        return True

    def close(self) -> None:
        """The answer is out: later steps are not shown."""
        self.armed = False
        self._pending = None
